"""Fraud benchmarks for `proactive-care bench fraud`.

1. The fraud worker (stream runner + FraudHandler: features, one model call per poll batch, alerts, state
   persistence) against a bare kafka-python consumer of the same topic: `fraud_worker_vs_bare_ratio`; and, in
   the same run, the stream runner with a handler that does nothing (`fraud_runner_noop_vs_bare_ratio`: the
   ceiling of any handler on this runner), which splits the worker's time a record into the runner's and the
   handler's (`fraud_handler_us_per_record`) and gives what the 0.5 goal leaves the handler
   (`fraud_handler_budget_us_at_half_bare`: 2 / bare - 1 / no-op runner; negative when even a handler that does
   nothing cannot reach it).
2. ScoreTransaction over real gRPC from 16 concurrent callers (micro-batched): `score_rpc_p99_ms`, `score_rpc_qps`,
   the server's CPU per call; and, in the same run, the same callers against a bare `grpc.aio` server answering a
   constant (`grpc_floor.py`): what Python gRPC alone costs here (`score_rpc_floor_*`).

Uses the model in $FRAUD_MODEL_DIR, or trains a small one on simulator data when there is none.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from services.devtools.kafka_launcher import ensure_topics, free_port
from services.fraud.metrics import FraudMetrics
from services.fraud.model import load_model
from services.fraud.policy import load_policy
from services.fraud.repository import MIGRATIONS
from services.fraud.scoring import FraudScorer
from services.fraud.worker import FraudHandler, sources
from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.platform import auth, security
from services.platform.client import auth_metadata, connect_aio
from services.platform.heap import settled_heap
from services.platform.kafka_client import CONFLUENT
from services.platform.kafka_io import Output
from services.platform.runner import Record, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store, Tx
from services.platform.topics import TRANSACTIONS
from tests.perf.bench_runner import bare_consumer_rate, confluent_consumer_rate, runner_rate
from tests.perf.common import bench_settings, fill_topic, fraud_model_dir, serve_process, simulated_transactions

N_RECORDS = 20_000
RPC_CALLERS = 16
RPC_CALLS_PER_CALLER = 150


class _Counting:
    """The real fraud handler, counting what it was handed so the benchmark knows when the topic is drained."""

    def __init__(self, inner: FraudHandler) -> None:
        self.inner = inner
        self.seen = 0

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        out = self.inner.handle(records, tx)
        self.seen += len(records)
        return out

    def committed(self, records: list[Record]) -> None:
        self.inner.committed(records)


def worker_rate(settings: Settings, n: int, model_dir: Path) -> float:
    registry = CollectorRegistry()
    store = Store.open(settings.data_dir / f"fraud-bench-{uuid.uuid4().hex[:6]}.sqlite")
    store.migrate(MIGRATIONS)
    handler = _Counting(FraudHandler(settings, FraudScorer(load_model(model_dir), load_policy()),
                                     FraudMetrics.create(registry)))
    runner = StreamRunner(settings, "fraud-bench", sources(settings), handler, store, registry,
                          group_id=f"{settings.consumer_group_prefix}.fraud.{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    runner.start()
    while handler.seen < n and runner.is_alive():
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    runner.stop()
    runner.join(30)
    store.close()
    return n / elapsed


async def _callers(target: str, token: str, payments: list[events_pb2.Transaction], settings: Settings,
                   ) -> tuple[list[float], float]:
    latencies: list[float] = []
    async with connect_aio(target, settings=settings) as channel:
        stub = fraud_pb2_grpc.FraudServiceStub(channel)
        metadata = auth_metadata(token)
        await stub.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(transaction=payments[0]),
                                    metadata=metadata, timeout=30)

        async def caller(k: int) -> None:
            for j in range(RPC_CALLS_PER_CALLER):
                tx = payments[(k * RPC_CALLS_PER_CALLER + j) % len(payments)]
                t0 = time.perf_counter()
                await stub.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(transaction=tx), metadata=metadata,
                                            timeout=30)
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(caller(k) for k in range(RPC_CALLERS)))
        return latencies, time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(target: str, pid: int, token: str, payments: list[events_pb2.Transaction],
          prefix: str, settings: Settings) -> dict[str, float]:
    cpu_before = _cpu_seconds(pid)
    latencies, elapsed = asyncio.run(_callers(target, token, payments, settings))
    cpu = _cpu_seconds(pid) - cpu_before
    ms = np.array(latencies) * 1000
    return {f"{prefix}_calls": len(ms), f"{prefix}_qps": round(len(ms) / elapsed, 1),
            f"{prefix}_p50_ms": round(float(np.percentile(ms, 50)), 2),
            f"{prefix}_p99_ms": round(float(np.percentile(ms, 99)), 2),
            f"{prefix}_server_cpu_us_per_call": round(cpu / len(ms) * 1e6, 1)}


def _floor(token: str, payments: list[events_pb2.Transaction], tls: Settings | None = None) -> dict[str, float]:
    """The same calls to a bare grpc.aio server (no interceptors): what gRPC alone costs; plaintext, or with
    `tls` the service's own certificate (the service is served over TLS: what TLS alone adds)."""
    client = tls or Settings(environment="production")
    port = free_port()
    certificate = [tls.tls_cert_file, tls.tls_key_file] if tls is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "tests.perf.grpc_floor", str(port), *certificate],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return _load(f"127.0.0.1:{port}", proc.pid, token, payments,
                     "score_rpc_tls_floor" if tls is not None else "score_rpc_floor", client)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def rpc_figures(settings: Settings, model_dir: Path, payments: list[events_pb2.Transaction]) -> dict[str, float]:
    quiet = settings.with_overrides(topic_prefix=f"{settings.topic_prefix}rpc{uuid.uuid4().hex[:4]}.")
    ensure_topics(quiet)  # the app's worker idles on empty topics: the RPC path alone is measured
    token = security.issue_dev_token(settings, "card-auth", auth.Role.SERVICE, services=("fraud",),
                                     scopes=("fraud:ScoreTransaction",))
    with serve_process(quiet, "fraud", model_dir) as served:  # its own process, as deployed
        figures = _load(served.target, served.pid, token, payments, "score_rpc", settings)
    figures.update(_floor(token, payments))
    figures.update(_floor(token, payments, tls=settings))
    figures["score_rpc_vs_floor_qps_ratio"] = round(figures["score_rpc_qps"] / figures["score_rpc_floor_qps"], 3)
    figures["score_rpc_vs_tls_floor_qps_ratio"] = round(figures["score_rpc_qps"] / figures["score_rpc_tls_floor_qps"],
                                                        3)
    return figures


def run(base: Settings) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_dir, bench_settings(base, Path(tmp_dir)) as settings:
        model_dir = fraud_model_dir(Path(tmp_dir))
        txs = simulated_transactions(N_RECORDS)
        fill_topic(settings, TRANSACTIONS, txs)
        with settled_heap():  # the consumers and the worker with the heap a service process has (heap.py)
            bare = bare_consumer_rate(settings, len(txs))
            worker = worker_rate(settings, len(txs), model_dir)
            noop = runner_rate(settings, len(txs))  # the same runner and store, a handler doing nothing
            # the same on confluent-kafka (KAFKA_CLIENT=confluent), against its own bare consumer
            bare_ck = confluent_consumer_rate(settings, len(txs))
            worker_ck = worker_rate(settings.with_overrides(kafka_client=CONFLUENT), len(txs), model_dir)
        payments = [tx for tx in txs
                    if tx.channel == events_pb2.CHANNEL_CARD_PRESENT and tx.direction == events_pb2.DIRECTION_DEBIT]
        figures: dict[str, float] = {
            "fraud_records": len(txs),
            "fraud_bare_consumer_records_per_s": round(bare, 1),
            "fraud_worker_records_per_s": round(worker, 1),
            "fraud_worker_vs_bare_ratio": round(worker / bare, 4),
            "fraud_runner_noop_records_per_s": round(noop, 1),
            "fraud_runner_noop_vs_bare_ratio": round(noop / bare, 4),
            "fraud_handler_us_per_record": round((1 / worker - 1 / noop) * 1e6, 1),
            "fraud_handler_budget_us_at_half_bare": round((2 / bare - 1 / noop) * 1e6, 1),
            "fraud_confluent_bare_consumer_records_per_s": round(bare_ck, 1),
            "fraud_worker_confluent_records_per_s": round(worker_ck, 1),
            "fraud_worker_confluent_vs_bare_confluent_ratio": round(worker_ck / bare_ck, 4),
            "fraud_worker_confluent_vs_kafka_python": round(worker_ck / worker, 3),
        }
        figures.update(rpc_figures(settings, model_dir, payments))
        return figures
