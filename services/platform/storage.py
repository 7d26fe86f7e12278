"""The store: SQLite in WAL mode behind one small interface.

State that replicas of a service share (alerts, notifications, advisor tasks) lives here. Every effect of a
stream event is written in the same transaction as the event's processed-events row, so redelivery changes
nothing. One connection per thread; writers serialize on SQLite's lock (busy timeout, immediate transactions).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_PLATFORM_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS processed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    outputs BLOB,
    processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
"""


class Store:
    """A SQLite database file. `path=":memory:"` is not supported: replicas and threads share a file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self.transaction() as tx:
            for statement in _split_sql(_PLATFORM_SCHEMA):
                tx.execute(statement)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for reads (writes go through `transaction()`)."""
        return self._conn()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT (ROLLBACK on error): one atomic unit of effects."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def migrate(self, name: str, script: str) -> None:
        """Apply a schema script once, recorded by name."""
        with self.transaction() as tx:
            if tx.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                return
            for statement in _split_sql(script):
                tx.execute(statement)
            tx.execute("INSERT INTO schema_migrations(name) VALUES (?)", (name,))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self._conn().execute(sql, params).fetchone()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the number of rows changed."""
        with self.transaction() as tx:
            return tx.execute(sql, params).rowcount

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# ---- idempotent effects --------------------------------------------------------------------------------

_CLAIM_CHUNK = 400  # rows per statement (2 parameters each; well under SQLite's variable limit)


def claim_events(tx: sqlite3.Connection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Record `event_ids` as processed by `consumer`; returns those that were not already recorded.

    One multi-row INSERT .. RETURNING per chunk: the hot path of every worker."""
    fresh: set[str] = set()
    for start in range(0, len(event_ids), _CLAIM_CHUNK):
        chunk = event_ids[start:start + _CLAIM_CHUNK]
        params: list[str] = []
        for event_id in chunk:
            params += (consumer, event_id)
        sql = ("INSERT OR IGNORE INTO processed_events(consumer, event_id) VALUES "
               + ",".join(["(?,?)"] * len(chunk)) + " RETURNING event_id")
        fresh.update(row[0] for row in tx.execute(sql, params))
    return fresh


def stored_outputs(tx: sqlite3.Connection, consumer: str, event_ids: Iterable[str]) -> list[bytes]:
    """The outputs stored with already-processed events (to produce them again on redelivery)."""
    ids = list(event_ids)
    blobs: list[bytes] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = tx.execute(
            f"SELECT outputs FROM processed_events WHERE consumer = ? AND event_id IN ({','.join('?' * len(chunk))})"
            " AND outputs IS NOT NULL", (consumer, *chunk)).fetchall()
        blobs += [r[0] for r in rows]
    return blobs


def save_outputs(tx: sqlite3.Connection, consumer: str, outputs: Iterable[tuple[str, bytes]]) -> None:
    tx.executemany("UPDATE processed_events SET outputs = ? WHERE consumer = ? AND event_id = ?",
                   [(blob, consumer, event_id) for event_id, blob in outputs])


def prune_processed(tx: sqlite3.Connection, consumer: str, older_than_hours: float) -> int:
    """Forget processed-event records older than Kafka could redeliver them."""
    cur = tx.execute("DELETE FROM processed_events WHERE consumer = ? AND processed_at < "
                     "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)", (consumer, f"-{older_than_hours} hours"))
    return cur.rowcount


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _split_sql(script: str) -> list[str]:
    """Statements of a schema script (plain DDL/DML; no `;` inside string literals or triggers)."""
    return [s.strip() for s in script.split(";") if s.strip()]
