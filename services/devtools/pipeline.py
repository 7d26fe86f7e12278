"""What the offline tools' `--kafka` modes share (`advice evaluate`, `mortgage evaluate`, `backtest`): a broker
to run on, and a wait until a service's stream workers are done with every record produced to their topics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from services.devtools.kafka_launcher import EmbeddedKafka, free_port, port_open
from services.platform.app import ServiceApp
from services.platform.progress import Progress
from services.platform.settings import Settings

# a record a worker is done with: handed to the handler, skipped as already applied, or dead-lettered
DONE_COUNTERS = ("proactivecare_stream_records_handled", "proactivecare_stream_records_redelivered",
                 "proactivecare_stream_records_dead_lettered")


@contextmanager
def broker(settings: Settings, data_dir: Path) -> Iterator[Settings]:
    """The broker `settings` name; when that is the embedded one and nothing answers on its port, an embedded
    broker started for the block (free ports, its data under `data_dir`). Yields the settings that reach it."""
    if not settings.embedded_kafka or port_open(settings.kafka_port):
        yield settings
        return
    settings = settings.with_overrides(kafka_port=free_port(), kafka_controller_port=free_port())
    embedded = EmbeddedKafka(settings, data_dir=data_dir)
    embedded.start()
    try:
        yield settings
    finally:
        embedded.stop()


def records_done(app: ServiceApp, topic: str) -> int:
    """Records of `topic` (its full name) the app's workers are done with."""
    return int(sum(sample.value for metric in app.registry.collect() if metric.name in DONE_COUNTERS
                   for sample in metric.samples
                   if sample.name.endswith("_total") and sample.labels.get("service") == app.name
                   and sample.labels.get("topic") == topic))


def wait_done(app: ServiceApp, expected: Mapping[str, int], timeout: float = 3_600, interval: float = 0.2,
              progress: Progress | None = None) -> None:
    """Until the app's workers are done with `expected[topic]` records of each topic (full names), counted in
    `progress` when given. Raises the failure of a worker that stopped, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        done = sum(min(records_done(app, topic), n) for topic, n in expected.items())
        if progress is not None:
            progress.update(done - progress.done)
        if done >= sum(expected.values()):
            return
        stopped = next((r for r in app.runners if not r.is_alive()), None)
        if stopped is not None:
            raise RuntimeError(f"the {app.name} worker stopped: {stopped.failure!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {app.name} workers did not handle {dict(expected)} records in {timeout} s")
        time.sleep(interval)
