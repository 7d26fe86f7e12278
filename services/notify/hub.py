"""Wakes up the Subscribe streams of a customer when something new became deliverable.

Stored notifications are the source of truth (streams read them by sequence, so there is no gap or duplicate
at the replay/live switch-over); the hub only says "look again now". Safe to call from any thread.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class SubscriberHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def register(self, customer_id: str) -> asyncio.Event:
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._waiters[customer_id].add(event)
        return event

    def unregister(self, customer_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(customer_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[customer_id]

    def subscribers(self) -> int:
        return sum(len(w) for w in self._waiters.values())

    def wake(self, customer_ids: Iterable[str]) -> None:
        """Thread-safe: called by the stream worker after its batch committed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        wanted = set(customer_ids)
        loop.call_soon_threadsafe(self._wake_now, wanted)

    def _wake_now(self, customer_ids: set[str]) -> None:
        for cid in customer_ids:
            for event in self._waiters.get(cid, ()):
                event.set()
