"""The fraud worker's handler alone, without a broker: CPU time per record of `FraudHandler.handle` over simulator
transactions in poll batches, each in its own store transaction (SQLite), as the stream runner hands them over.

`python -m tests.perf.fraud_handler_cpu [RECORDS] [--profile]`. On a shared machine the CPU time of one process
moves far less than `bench fraud`'s rates (which time a broker, a consumer and the worker together), so this is
the figure to compare two versions of the handler by; `--profile` prints where the time goes (cProfile).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.fraud.metrics import FraudMetrics
from services.fraud.model import load_model
from services.fraud.policy import load_policy
from services.fraud.repository import MIGRATIONS
from services.fraud.scoring import FraudScorer
from services.fraud.worker import FraudHandler
from services.platform.heap import settle_heap
from services.platform.runner import Record
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import TRANSACTIONS
from tests.perf.common import fraud_model_dir, simulated_transactions

POLL = 500


def handler_cpu(n: int, profile: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        settings = Settings(environment="production", data_dir=tmp)
        model_dir = fraud_model_dir(tmp)
        topic = settings.topic(TRANSACTIONS)
        records = [Record(topic, 0, i, t.customer_id, t.id, t, 0) for i, t in enumerate(simulated_transactions(n))]
        store = Store.open(tmp / "fraud.sqlite")
        store.migrate(MIGRATIONS)
        handler = FraudHandler(settings, FraudScorer(load_model(model_dir), load_policy()),
                               FraudMetrics.create(CollectorRegistry()))
        settle_heap()  # as the service process does once started (services/platform/heap.py)
        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for start in range(0, len(records), POLL):
            batch = records[start:start + POLL]
            with store.transaction() as tx:
                handler.handle(batch, tx)
            handler.committed(batch)
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
    per_record = 1e6 / len(records)
    return {"fraud_handler_records": len(records), "fraud_handler_cpu_us_per_record": round(cpu * per_record, 1),
            "fraud_handler_wall_us_per_record": round(wall * per_record, 1)}


if __name__ == "__main__":
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "20000"))
    print(handler_cpu(count, "--profile" in sys.argv))
