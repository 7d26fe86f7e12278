"""The SQLite backend of the store (the embedded default): what only SQLite needs.

- An instant is stored as fixed-width ISO-8601 UTC text (`2026-11-29T19:30:00.123456Z`), so comparing and
  ordering the text compares instants; a naive datetime is refused.
- pysqlite's own transaction handling is off and the store's is on: `BEGIN IMMEDIATE` for a write (the write
  lock is taken at the start, so two writers never deadlock upgrading a read lock), `BEGIN` for a read (a
  snapshot, thanks to WAL).
- The runner's claim of a batch: a multi-row INSERT with numbered parameters (the consumer and the time bound
  once, one parameter per event id); its look-up of stored outputs: `IN (?, ...)` chunks.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

CLAIM_CHUNK = 500  # event ids per statement, well under SQLite's variable limit


def instant_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware instants only")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


sqlite3.register_adapter(datetime, instant_text)


def configure(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("store_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def claim(conn: Connection, consumer: str, event_ids: Sequence[str], now: datetime) -> set[str]:
    """Straight on the driver's connection (inside the store's transaction, which it shares): SQLAlchemy's result
    machinery cost a microsecond per claimed row."""
    fresh: set[str] = set()
    at = instant_text(now)
    raw = conn.connection.driver_connection
    for start in range(0, len(event_ids), CLAIM_CHUNK):
        chunk = event_ids[start:start + CLAIM_CHUNK]
        sql = _claim_sql(len(chunk))
        fresh.update(row[0] for row in raw.execute(sql, (consumer, at, *chunk)).fetchall())
    return fresh


@functools.lru_cache(maxsize=CLAIM_CHUNK)
def _claim_sql(n: int) -> str:
    values = ",".join(f"(?1,?{i},?2)" for i in range(3, n + 3))
    return (f"INSERT INTO processed_events(consumer, event_id, processed_at) VALUES {values}"
            " ON CONFLICT DO NOTHING RETURNING event_id")


def stored_outputs(conn: Connection, consumer: str, event_ids: Sequence[str]) -> list[bytes]:
    blobs: list[bytes] = []
    for start in range(0, len(event_ids), CLAIM_CHUNK):
        chunk = event_ids[start:start + CLAIM_CHUNK]
        rows = conn.exec_driver_sql(
            f"SELECT outputs FROM processed_events WHERE consumer = ? AND event_id IN ({','.join('?' * len(chunk))})"
            " AND outputs IS NOT NULL", (consumer, *chunk))
        blobs += [r[0] for r in rows]
    return blobs
