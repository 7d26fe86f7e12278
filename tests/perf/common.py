"""What every benchmark shares: a broker (the embedded one unless KAFKA_BOOTSTRAP_SERVERS is set), its own
topics, and a way to fill a topic with simulator transactions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from services.devtools.devstack import wait_serving
from services.devtools.kafka_launcher import EmbeddedKafka, ensure_topics, free_port
from services.gen.proactivecare.v1 import events_pb2
from services.platform import security
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings


@contextmanager
def bench_settings(base: Settings, data_dir: Path) -> Iterator[Settings]:
    """Settings with fresh topics and groups; starts the embedded broker for the run if none is running."""
    broker = EmbeddedKafka(base)
    started = base.embedded_kafka and broker.pid() is None
    if base.embedded_kafka:
        broker.start()
    run = uuid.uuid4().hex[:8]
    # development mode: a development identity provider and CA in the run's data directory, TLS on
    settings = security.resolve(base.with_overrides(
        topic_prefix=f"bench{run}.", consumer_group_prefix=f"bench{run}", data_dir=data_dir, grpc_port=0,
        metrics_port=0, environment="development", auth_jwks_url="", auth_issuer="", tls_cert_file="",
        tls_key_file="", grpc_tls_ca_file=""))
    ensure_topics(settings)
    try:
        yield settings
    finally:
        if started:
            broker.stop()


def simulated_transactions(n: int, customers: int = 2_000, seed: int = 7) -> list[events_pb2.Transaction]:
    """`n` transactions from the synthetic bank (card spending, salaries, bills...), in time order."""
    from services.simulator import events
    from services.simulator.bank import build_bank
    from services.simulator.handbook import HandbookConfig

    days = max(7, int(n / (customers * 2.2)) + 2)
    bank = build_bank(HandbookConfig(n_customers=customers, n_terminals=customers * 2, n_days=days, seed=seed))
    return list(events.transactions(bank, 0, n))


def fill_topic(settings: Settings, topic: str, transactions: list[events_pb2.Transaction]) -> None:
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    for tx in transactions:
        producer.send(settings.topic(topic), key=tx.customer_id.encode(), value=tx.SerializeToString())
    producer.flush()
    producer.close()


def fraud_model_dir(tmp: Path) -> Path:
    """The model in $FRAUD_MODEL_DIR, or a small one trained on simulator data (the real training path)."""
    from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env

    directory = model_dir_from_env()
    try:
        load_model(directory)
        return directory
    except ModelArtifactError:
        from services.fraud.offline.dataset import from_simulator
        from services.fraud.offline.jobs import train_job
        from services.simulator.handbook import HandbookConfig, generate

        data = from_simulator(generate(HandbookConfig(n_customers=300, n_terminals=600, n_days=45)).transactions)
        train_job(data, tmp / "model", None, 0.0, ["hist_gradient_boosting"], lambda _m: None)
        return tmp / "model"


class Served(NamedTuple):
    target: str  # host:port
    pid: int


@contextmanager
def serve_process(settings: Settings, service: str, model_dir: Path) -> Iterator[Served]:
    """`proactive-care serve <service>` as its own process, as deployed; yields its gRPC target and pid."""
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "TOPIC_PREFIX": settings.topic_prefix,
           "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix, "PROACTIVE_CARE_DATA_DIR": str(settings.data_dir),
           "GRPC_PORT": str(port), "METRICS_PORT": str(free_port()), "FRAUD_MODEL_DIR": str(model_dir),
           "PROACTIVE_CARE_ENV": "development", "AUTH_JWKS_URL": settings.auth_jwks_url,
           "AUTH_ISSUER": settings.auth_issuer, "TLS_CERT_FILE": settings.tls_cert_file,
           "TLS_KEY_FILE": settings.tls_key_file, "GRPC_TLS_CA_FILE": settings.grpc_tls_ca_file}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", service], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_serving(port, settings=settings):
            raise RuntimeError(f"{service} did not become SERVING")
        yield Served(f"127.0.0.1:{port}", proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
