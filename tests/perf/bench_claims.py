"""The runner's store work per batch on SQLite, without Kafka: what one poll batch costs the store.

Per batch of `--batch` fresh event ids, in one write transaction: claim them (multi-row INSERT .. RETURNING),
save outputs for a tenth of them, look up stored outputs of none; then the same batch again (a redelivery: all
already claimed, their outputs replayed). Prints records/s of each; the last line is JSON.
`python -m tests.perf.bench_claims [--batches 50] [--batch 2000]`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from services.platform import storage


def _open(path: Path) -> storage.Store:
    opener = getattr(storage.Store, "open", None)  # older kernels: Store(path)
    return opener(path) if opener else storage.Store(path)  # type: ignore[call-arg]


def run(batches: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = _open(Path(tmp) / "claims.sqlite")
        ids = [[f"transactions/{uuid.uuid4()}" for _ in range(batch)] for _ in range(batches)]
        started = time.perf_counter()
        for chunk in ids:
            with store.transaction() as tx:
                fresh = storage.claim_events(tx, "bench", chunk)
                storage.save_outputs(tx, "bench", [(e, b"x" * 64) for e in chunk[: batch // 10]])
                storage.stored_outputs(tx, "bench", (e for e in chunk if e not in fresh))
        first = time.perf_counter() - started
        started = time.perf_counter()
        for chunk in ids:
            with store.transaction() as tx:
                fresh = storage.claim_events(tx, "bench", chunk)
                storage.stored_outputs(tx, "bench", (e for e in chunk if e not in fresh))
        again = time.perf_counter() - started
        store.close()
    n = batches * batch
    return {"fresh_records_per_second": round(n / first), "redelivered_records_per_second": round(n / again),
            "batch": batch, "batches": batches}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(run(args.batches, args.batch)))
