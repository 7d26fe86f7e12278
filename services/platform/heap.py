"""The garbage collector of a service process, settled once the process has started.

CPython frees almost everything by reference counting; its cyclic collector walks the tracked objects of a
generation on each pass. What a process loaded to start (modules, protobuf descriptors, a model) lives as long as it
does: collected once and frozen, no pass walks it again, so a worker allocating per record pays only for what it
allocates. A benchmark measuring a service's parts in its own process settles its heap the same way for a while
(`settled_heap`), so it measures them as the service runs them and not the benchmark's own data.

Measured on fraud's handler (`python -m tests.perf.fraud_handler_cpu`, 20,000 records, three interleaved rounds):
344-370 us of CPU a record without it, 267-302 us frozen; raising the collector's thresholds as well (10,000 or
50,000 allocations a pass instead of 700) gave 264-298 us, within the noise, so they stay at CPython's defaults.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def settle_heap() -> None:
    """Collect, then freeze what the process holds now (module docstring)."""
    gc.collect()
    gc.freeze()


@contextmanager
def settled_heap() -> Iterator[None]:
    """`settle_heap()` for a while (a benchmark in its own process), then unfrozen again."""
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()
