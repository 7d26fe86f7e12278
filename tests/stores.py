"""Test helpers around the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.platform.storage import Store, Tx


class EachCallInItsTransaction:
    """A repository (`make(tx)`) whose every method call runs in a write transaction of its own, the way a
    servicer uses it: `Calls(store, lambda tx: TaskRepository(tx, clock)).claim_next(...)`."""

    def __init__(self, store: Store, make: Callable[[Tx], Any]) -> None:
        self.store = store
        self.make = make

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.store.transaction() as tx:
                return getattr(self.make(tx), name)(*args, **kwargs)

        return call


def rows(store: Store, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """The rows of one query, read in a transaction of its own."""
    with store.read() as tx:
        return list(tx.all(sql, params))
