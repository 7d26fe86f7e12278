"""`proactive-care bench scale`: scale-out on PostgreSQL, and memory as customers grow.

1. The fraud worker's records/s with 1 and with 2 replicas (`proactive-care serve fraud` processes in one consumer
   group on one PostgreSQL), in the same run: `fraud_2_vs_1_replicas_ratio`. Each run has its own topics, group
   and schemas; the clock runs from the first record produced to the last one recorded as processed.
2. The stream runner (no-op handler; processed-event records in PostgreSQL) against a bare kafka-python consumer of
   the same topic, interleaved, best of each: `runner_vs_bare_consumer_ratio_postgres`.
3. Memory as customers grow: the five services as processes on PostgreSQL replay a simulated bank (profiles, then
   `RSS_DAYS` days of transactions) of 1,000, 10,000 and 30,000 customers until every consumer group has caught up;
   each process's RSS then, the slope per customer between the two largest banks, and that slope extrapolated to
   100,000 customers. Not from the smallest: at 1,000 customers fraud's bounded caches are not full yet (1,000
   customers, 2,000 entities of each kind: 500 merchants are), so its RSS there is below the base every larger bank
   shares, and a slope from it counts the caches filling as growth per customer (`*_rss_kb_per_customer_1000_10000`,
   reported beside).

`proactive-care bench scale --only replicas|runner|memory` runs one part. PostgreSQL: `DATABASE_URL` if set, else
the embedded server (started for the run, removed after).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from services.devtools.postgres_launcher import EmbeddedPostgres
from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_io import ensure_topics
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import CUSTOMERS, TRANSACTIONS
from tests.perf.bench_runner import bare_consumer_rate, runner_rate
from tests.perf.common import bench_settings, fill_topic, fraud_model_dir, simulated_transactions
from tests.processes import ServiceProcess

N_RECORDS = 20_000
ROUNDS = 1  # one run each (a shared 2-core machine: say so next to the figures)
SERVICES = ("fraud", "notify", "advice", "advisor", "mortgage")
RSS_CUSTOMERS = (1_000, 10_000, 30_000)
RSS_DAYS = 4  # days of transactions replayed per customer (about 2.2 a day)
EXTRAPOLATE_TO = 100_000
MB = 1024 * 1024


@contextlib.contextmanager
def _postgres(base: Settings) -> Iterator[str]:
    if base.database_url:
        yield base.database_url
        return
    directory = Path(tempfile.mkdtemp(prefix="proactive-care-pg-bench-"))
    directory.chmod(0o755)  # as root the server runs as another user, who must reach its data dir
    server = EmbeddedPostgres(directory, ephemeral=True)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _isolated(settings: Settings, url: str, label: str) -> Settings:
    run = f"{label}{uuid.uuid4().hex[:6]}"
    s = settings.with_overrides(topic_prefix=f"{settings.topic_prefix}{run}.",
                                consumer_group_prefix=f"{settings.consumer_group_prefix}.{run}",
                                database_url=url, database_schema_prefix=f"{run}_")
    ensure_topics(s)
    return s


def _start(settings: Settings, services: list[tuple[str, str]], log_dir: Path, model_dir: Path
           ) -> list[ServiceProcess]:
    procs = [ServiceProcess(settings, service, log_dir, name, FRAUD_MODEL_DIR=str(model_dir)).start()
             for service, name in services]
    for p in procs:
        if not p.wait_serving():
            raise RuntimeError(f"{p.name} did not become SERVING:\n{p.log_tail()}")
    return procs


def fraud_rate(settings: Settings, url: str, replicas: int, txs: list[events_pb2.Transaction], log_dir: Path,
               model_dir: Path) -> float:
    """Records/s of `replicas` fraud worker processes through the whole topic."""
    s = _isolated(settings, url, f"fraud{replicas}r")
    procs = _start(s, [("fraud", f"fraud-{replicas}r-{i}") for i in range(replicas)], log_dir, model_dir)
    store = Store.open(url, schema=f"{s.database_schema_prefix}fraud", threads=1)
    try:
        time.sleep(5)  # the group forms (every replica joined, partitions assigned) before the clock starts
        started = time.perf_counter()
        fill_topic(s, TRANSACTIONS, txs)
        pattern = f"{s.topic(TRANSACTIONS)}/%"
        while True:
            with store.read() as tx:
                done = int(tx.scalar("SELECT COUNT(*) FROM processed_events WHERE event_id LIKE :p", {"p": pattern}))
            if done >= len(txs):
                return len(txs) / (time.perf_counter() - started)
            if not all(p.alive() for p in procs):
                raise RuntimeError("a fraud replica exited:\n" + "\n".join(p.log_tail() for p in procs))
            time.sleep(0.1)
    finally:
        store.close()
        for p in procs:
            p.stop()


def _caught_up(settings: Settings) -> bool:
    """Every consumer group of this run has committed the end of every topic it reads."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        names = [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
        groups = [g for g in names if g.startswith(settings.consumer_group_prefix)]
        if not groups:
            return False
        for group in groups:
            committed = admin.list_group_offsets(group)[group]
            for topic in {tp.topic for tp in committed}:
                partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
                end = consumer.end_offsets(partitions)
                done = sum(om.offset for tp, om in committed.items() if tp.topic == topic and om.offset >= 0)
                if done < sum(end.values()):
                    return False
        return True
    finally:
        consumer.close()
        admin.close()


def rss_after_replay(settings: Settings, url: str, customers: int, log_dir: Path, model_dir: Path,
                     timeout: float = 1800.0) -> dict[str, float]:
    """RSS (MB) of each service once the whole system has replayed a bank of `customers` customers."""
    from services.simulator import events
    from services.simulator.bank import build_bank
    from services.simulator.handbook import HandbookConfig

    bank = build_bank(HandbookConfig(n_customers=customers, n_terminals=2 * customers, n_days=RSS_DAYS, seed=5))
    s = _isolated(settings, url, f"rss{customers}")
    procs = _start(s, [(name, f"{name}-{customers}") for name in SERVICES], log_dir, model_dir)
    try:
        fill_topic(s, CUSTOMERS, list(events.profiles(bank)))  # type: ignore[arg-type]
        txs = list(events.transactions(bank))
        fill_topic(s, TRANSACTIONS, txs)
        deadline = time.monotonic() + timeout
        while not (_caught_up(s) and time.sleep(3) is None and _caught_up(s)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the services did not catch up with {len(txs)} transactions in {timeout} s")
            dead = [p for p in procs if not p.alive()]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited:\n{dead[0].log_tail()}")
            time.sleep(2)
        figures = {f"{p.service}_rss_mb_{customers}": round(p.rss_bytes() / MB, 1) for p in procs}
        figures[f"rss_transactions_{customers}"] = len(txs)
        return figures
    finally:
        for p in procs:
            p.stop()


PARTS = ("replicas", "runner", "memory")


def run(base: Settings, only: str | None = None) -> dict[str, float]:
    """Every part, or `only` one of PARTS (`proactive-care bench scale --only memory`)."""
    if only is not None and only not in PARTS:
        raise ValueError(f"bench scale has no part {only!r}: choose from {', '.join(PARTS)}")
    with tempfile.TemporaryDirectory() as tmp, bench_settings(base, Path(tmp)) as settings, \
            _postgres(base) as url:
        log_dir = Path(tmp) / "logs"
        log_dir.mkdir()
        model_dir = fraud_model_dir(Path(tmp)) if only != "runner" else Path(tmp)
        figures: dict[str, float] = {}
        txs = simulated_transactions(N_RECORDS) if only != "memory" else []
        if only in (None, "replicas"):
            figures.update(_replicas(settings, url, txs, log_dir, model_dir))
        if only in (None, "runner"):
            figures.update(_runner(settings, url, txs))
        if only in (None, "memory"):
            figures.update(_memory(settings, url, log_dir, model_dir))
        return figures


def _replicas(settings: Settings, url: str, txs: list[events_pb2.Transaction], log_dir: Path, model_dir: Path
              ) -> dict[str, float]:
    """1. fraud worker replicas"""
    figures: dict[str, float] = {}
    one, two = [], []
    for _ in range(ROUNDS):  # interleaved, best of each: the machine is shared and noisy
        one.append(fraud_rate(settings, url, 1, txs, log_dir, model_dir))
        two.append(fraud_rate(settings, url, 2, txs, log_dir, model_dir))
        print(f"fraud worker records/s: 1 replica {one[-1]:.0f}, 2 replicas {two[-1]:.0f}", flush=True)
    figures.update({"fraud_records": len(txs), "fraud_1_replica_records_per_s": round(max(one), 1),
                    "fraud_2_replicas_records_per_s": round(max(two), 1),
                    "fraud_2_vs_1_replicas_ratio": round(max(two) / max(one), 3)})
    return figures


def _runner(settings: Settings, url: str, txs: list[events_pb2.Transaction]) -> dict[str, float]:
    """2. the runner on PostgreSQL against a bare consumer"""
    figures: dict[str, float] = {}
    s = _isolated(settings, url, "runner")
    fill_topic(s, TRANSACTIONS, txs)
    bare, ours = [], []
    for _ in range(ROUNDS):
        bare.append(bare_consumer_rate(s, len(txs)))
        store = Store.open(url, schema=f"{s.database_schema_prefix}runner{uuid.uuid4().hex[:6]}")
        ours.append(runner_rate(s, len(txs), store))
        store.close()
    figures.update({"runner_records": len(txs), "bare_consumer_records_per_s": round(max(bare), 1),
                    "runner_postgres_records_per_s": round(max(ours), 1),
                    "runner_vs_bare_consumer_ratio_postgres": round(max(ours) / max(bare), 3)})
    return figures


def _memory(settings: Settings, url: str, log_dir: Path, model_dir: Path) -> dict[str, float]:
    """3. memory as customers grow"""
    figures: dict[str, float] = {}
    for n in RSS_CUSTOMERS:
        figures.update(rss_after_replay(settings, url, n, log_dir, model_dir))
        print({k: v for k, v in figures.items() if k.endswith(f"_{n}")}, flush=True)
    figures.update(memory_slopes(figures))
    return figures


def memory_slopes(figures: dict[str, float], sizes: tuple[int, ...] = RSS_CUSTOMERS) -> dict[str, float]:
    """Each service's RSS growth per customer between the two largest banks and its extrapolation to
    EXTRAPOLATE_TO customers from the largest; with three banks or more, also the slope between the two smallest
    (`*_rss_kb_per_customer_<a>_<b>`)."""
    out: dict[str, float] = {}

    def slope(service: str, a: int, b: int) -> float:
        return (figures[f"{service}_rss_mb_{b}"] - figures[f"{service}_rss_mb_{a}"]) * 1024 / (b - a)

    small, large = sizes[-2:]
    for service in SERVICES:
        slope_kb = slope(service, small, large)
        out[f"{service}_rss_kb_per_customer"] = round(slope_kb, 2)
        out[f"{service}_rss_mb_{EXTRAPOLATE_TO}_extrapolated"] = round(
            figures[f"{service}_rss_mb_{large}"] + slope_kb * (EXTRAPOLATE_TO - large) / 1024, 1)
        if len(sizes) > 2:
            out[f"{service}_rss_kb_per_customer_{sizes[0]}_{sizes[1]}"] = round(slope(service, *sizes[:2]), 2)
    return out
