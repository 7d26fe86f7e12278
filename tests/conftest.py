"""Fixtures every suite shares (defined once here, so one of each per session: a fixture imported into several
conftest files would be one per file): development-mode security, the store on both backends, the session's
Apache Kafka broker and the session's small fraud model.

Every test process runs in development mode with TLS on: one development identity provider (key pair + JWKS)
and one development CA are made per test session, and the environment points every `Settings.from_env()` (and
every child process) at them.

`backend` runs a test once on SQLite and once on PostgreSQL (the embedded server, started once per session
and only when a PostgreSQL case runs; `TEST_DATABASE_URL` points at another server instead). `open_store(name)`
opens a fresh store of the test's backend: a file in the test's directory, or a schema of its own.
"""

from __future__ import annotations

import os

# gRPC's fork handlers are off in the test process (before anything imports grpc): the replica test restarts
# PostgreSQL (pg_ctl, forked with a user switch) while Subscribe streams are open, and with them on, gRPC C-core
# aborted the whole run ("ev_epoll1_linux.cc: Check failed: next_worker->state == KICKED"). Nothing here forks a
# process that then uses gRPC; service processes are started with exec.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.devtools.kafka_launcher import EmbeddedKafka, SecureListeners, free_port
from services.devtools.postgres_launcher import EmbeddedPostgres
from services.platform.dev_identity import DEV_ISSUER, ensure_dev_identity
from services.platform.dev_tls import ensure_dev_tls
from services.platform.settings import Settings
from services.platform.storage import Store

BACKENDS = ("sqlite", "postgresql")
# the fraud model of the tests: `make run`'s training path (two banks side by side, the book's spending and varied
# spending) on smaller banks: 1,000 customers a bank over 45 days with the book's daily compromises (3 cards, 2
# terminals a day), so a training week with as many compromised cards as the book's
SMALL_BANK = {"n_customers": 1000, "n_terminals": 2000, "n_days": 45}


def pytest_configure(config: pytest.Config) -> None:
    keys = Path(tempfile.mkdtemp(prefix="proactive-care-keys-"))
    identity = ensure_dev_identity(keys / "dev-identity")
    tls = ensure_dev_tls(keys / "dev-tls")
    os.environ.update({
        "PROACTIVE_CARE_ENV": "development", "AUTH_JWKS_URL": identity.jwks_url, "AUTH_ISSUER": DEV_ISSUER,
        "TLS_CERT_FILE": str(tls.server_cert_file), "TLS_KEY_FILE": str(tls.server_key_file),
        "GRPC_TLS_CA_FILE": str(tls.ca_file), "PROACTIVE_CARE_TEST_KEYS": str(keys)})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL", "")
    if given:
        yield given
        return
    # not under pytest's temporary root: as root the server runs as another user, who must reach its data dir
    directory = Path(tempfile.mkdtemp(prefix="proactive-care-pg-"))
    directory.chmod(0o755)
    server = EmbeddedPostgres(directory, ephemeral=True)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The test's database URL ("" on SQLite: each service its own file in the test's data dir)."""
    return str(request.getfixturevalue("postgres_url")) if backend == "postgresql" else ""


@pytest.fixture
def open_store(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    run = uuid.uuid4().hex[:8]
    opened: list[Store] = []

    def open_(name: str) -> Store:
        store = (Store.open(database_url, schema=f"t{run}_{name}") if database_url
                 else Store.open(tmp_path / f"{name}.sqlite"))
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


# The broker runs on free ports with its data in a temporary directory, so it never collides with a `make run`
# broker. Besides PLAINTEXT it listens with SSL and SASL_SSL (SCRAM), certificates from the session's development
# CA, for the Kafka transport security test (`kafka_secure_listeners`; they cost the start nothing measurable).
SCRAM_USER = "proactive-care-test"


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[Settings, SecureListeners | None, Path | None]]:
    base = Settings.from_env()
    if not base.embedded_kafka:  # KAFKA_BOOTSTRAP_SERVERS given: use that cluster
        yield base, None, None
        return
    settings = base.with_overrides(kafka_port=free_port(), kafka_controller_port=free_port())
    secure = SecureListeners(ensure_dev_tls(Path(os.environ["PROACTIVE_CARE_TEST_KEYS"]) / "dev-tls"),
                             ssl_port=free_port(), sasl_ssl_port=free_port(),
                             scram_users={SCRAM_USER: secrets.token_urlsafe(16)})
    broker = EmbeddedKafka(settings, data_dir=tmp_path_factory.mktemp("kafka"), secure=secure)
    broker.start()
    try:
        yield settings, secure, broker.data_dir / "broker.log"
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(embedded_broker: tuple[Settings, SecureListeners | None, Path | None]) -> Settings:
    return embedded_broker[0]


@pytest.fixture(scope="session")
def kafka_secure_listeners(embedded_broker: tuple[Settings, SecureListeners | None, Path | None]
                           ) -> SecureListeners:
    """The session broker's SSL and SASL_SSL listeners (skips against a cluster named by KAFKA_BOOTSTRAP_SERVERS,
    whose listeners are its own)."""
    if embedded_broker[1] is None:
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS names another cluster: the TLS listeners are the embedded broker's")
    return embedded_broker[1]


@pytest.fixture(scope="session")
def kafka_broker_log(embedded_broker: tuple[Settings, SecureListeners | None, Path | None]) -> Path:
    """The embedded broker's own log (its refusals of clients: `deploy/kafka/log4j2.yaml`)."""
    if embedded_broker[2] is None:
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS names another cluster: its log is not this session's")
    return embedded_broker[2]


@pytest.fixture(scope="session")
def fraud_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default fraud model, trained once per session as `make run` trains it, on smaller banks."""
    from threadpoolctl import threadpool_limits

    from services.fraud.offline.jobs import load_data, train_job

    out = tmp_path_factory.mktemp("fraud-model")
    data = load_data(None, 1, spending="mixed", scale=SMALL_BANK)
    with threadpool_limits(1):
        train_job(data, out, None, 0.0, ["hist_gradient_boosting"], lambda _m: None)
    yield out
