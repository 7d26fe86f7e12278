"""The collector of a service process once it has started: what it holds is frozen (no pass walks it again), and
a benchmark's settled stretch leaves the process as it found it."""

from __future__ import annotations

import gc

from services.platform.heap import settled_heap


def test_a_settled_heap_freezes_what_is_held_then_gives_it_back() -> None:
    held = [[i] for i in range(1000)]  # containers the collector tracks
    with settled_heap():
        assert gc.get_freeze_count() >= len(held)
        assert gc.isenabled()  # what is allocated from here on is collected as ever
    assert gc.get_freeze_count() == 0
