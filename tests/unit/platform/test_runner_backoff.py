"""The runner's backoff after a transient failure: exponential, capped, jittered (never the same for every
worker, never zero)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from services.platform.runner import Source, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retry_backoff_seconds=0.2, retry_backoff_max_seconds=10.0)
    store = Store.open(tmp_path / "w.sqlite")
    try:
        worker = StreamRunner(settings, "probe", [Source("t", bytes)], handler=None,  # type: ignore[arg-type]
                              store=store, registry=CollectorRegistry())
        for attempt, ceiling in [(0, 0.2), (1, 0.4), (3, 1.6), (5, 6.4), (6, 10.0), (60, 10.0)]:
            waits = {worker.backoff_seconds(attempt) for _ in range(50)}
            assert all(ceiling / 2 <= w <= ceiling for w in waits), attempt
            assert len(waits) > 1  # jitter
    finally:
        store.close()
