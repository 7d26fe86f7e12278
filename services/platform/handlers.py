"""Composing stream handlers: one service's runner reading one more topic with a handler of its own (a runner
owns the service's stream metrics, so a service has one runner; this splits its batches by topic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from services.platform.kafka_io import Output
from services.platform.runner import Record
from services.platform.storage import Tx


class BatchHandler(Protocol):
    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]: ...


class WithTopic:
    """`main` handles every record except those of `topic`, which `extra` handles, in the same transaction.
    Attributes the runner looks for (e.g. `committed`) are `main`'s."""

    def __init__(self, main: BatchHandler, topic: str, extra: BatchHandler) -> None:
        self.main = main
        self.topic = topic
        self.extra = extra

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        mine = [r for r in records if r.topic == self.topic]
        others = [r for r in records if r.topic != self.topic]
        outputs: dict[str, Sequence[Output]] = dict(self.extra.handle(mine, tx)) if mine else {}
        if others:
            outputs.update(self.main.handle(others, tx))
        return outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.main, name)
