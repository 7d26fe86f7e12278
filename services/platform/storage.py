"""The store: one storage layer over SQLite (the embedded default) and PostgreSQL (scale-out).

`Store.open(url)` takes `sqlite:///path` or `postgresql://...`; `Store.for_service(settings, name)` picks the
URL from `DATABASE_URL` (one PostgreSQL database, one schema per service, named `<prefix><service>`) or, when
unset, the service's own SQLite file under the data dir. SQLAlchemy 2 Core runs the SQL (no ORM): its engine
gives each dialect its DDL from `Table` definitions and a connection pool (psycopg 3 on PostgreSQL).

Invariants:
- every write is one `transaction()`: BEGIN .. COMMIT, ROLLBACK on error; on SQLite writers of a process take
  turns on a lock and the transaction begins IMMEDIATE (no lock upgrade, so no deadlock between replicas);
- a handler, a repository and a servicer see only `Tx`, the kernel's transaction type, never a driver type;
- instants are timezone-aware UTC `datetime`s everywhere: `timestamptz` on PostgreSQL, fixed-width ISO-8601
  UTC text on SQLite (so comparing and ordering the text is comparing instants); `as_utc` reads either back;
- a servicer reaches the store only through `await store.reading(fn)` / `await store.writing(fn)`, which run
  `fn(tx)` on the store's thread pool: no database call ever runs on the event loop;
- each service's schema is a versioned list of `Migration`s, applied once each, recorded in `schema_versions`
  (under an advisory lock on PostgreSQL, so replicas starting together apply each step once).
Every effect of a stream event is written in the same transaction as the event's processed-events row (or, for a
stream that dedupes by offset, its partition's next offset in `stream_offsets`), so a redelivered event changes
nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    TextClause,
    bindparam,
    create_engine,
    text,
)
from sqlalchemy.engine import Connection, CursorResult, Row, make_url

from services.platform import sqlite_backend
from services.platform.clock import utc_now

if TYPE_CHECKING:
    from services.platform.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)
SQLITE, POSTGRESQL = "sqlite", "postgresql"

# ---- time -----------------------------------------------------------------------------------------------


def as_utc(value: datetime | str | None) -> datetime | None:
    """An instant read from either backend (timestamptz or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def instant(name: str, nullable: bool = False) -> Column[Any]:
    """A column holding an instant (timestamptz on PostgreSQL)."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


# ---- transactions ---------------------------------------------------------------------------------------

@lru_cache(maxsize=512)
def _text(sql: str, lists: tuple[str, ...] = ()) -> TextClause:
    """The statement of `sql`, made once: a process runs a few dozen distinct statements, so this cache (and
    SQLAlchemy's compiled cache behind it) stays small. SQL built per call (`IN (:v0, .., :vN)` for N values)
    would fill both with a statement per N, hundreds of KB each at N = 500: use `lists` instead."""
    clause = text(sql)
    return clause.bindparams(*(bindparam(name, expanding=True) for name in lists)) if lists else clause


class Tx:
    """One open transaction. SQL is portable text with `:named` parameters (`ON CONFLICT`, `RETURNING` and
    `excluded.` read the same on both backends); `dialect` names the backend where a statement must differ.
    A parameter named in `lists` takes a list of values: write `IN :name` (no parentheses) and it expands to
    one placeholder per value at execution, while the statement stays one cached statement."""

    __slots__ = ("conn", "dialect")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect: str = conn.dialect.name

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                lists: tuple[str, ...] = ()) -> CursorResult[Any]:
        """One statement; a list of parameter mappings runs it once per mapping."""
        return self.conn.execute(_text(sql, lists), params)

    def one(self, sql: str, params: Mapping[str, Any] | None = None, lists: tuple[str, ...] = ()
            ) -> Row[Any] | None:
        return self.execute(sql, params, lists).first()

    def all(self, sql: str, params: Mapping[str, Any] | None = None, lists: tuple[str, ...] = ()
            ) -> Sequence[Row[Any]]:
        return self.execute(sql, params, lists).all()

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None, lists: tuple[str, ...] = ()) -> Any:
        return self.execute(sql, params, lists).scalar()

    @property
    def postgresql(self) -> bool:
        return self.dialect == POSTGRESQL

    def notify(self, channel: str, payload: str) -> None:
        """Tell `Store.listen(channel)` listeners of every replica, when this transaction commits (PostgreSQL
        NOTIFY on a channel of this schema; nothing on SQLite, whose readers poll). Payload: an id, not data."""
        if self.postgresql:
            self.execute("SELECT pg_notify(current_schema() || '.' || :channel, :payload)",
                         {"channel": channel, "payload": payload})


@dataclass(frozen=True)
class Migration:
    """One step of a service's schema, applied once (by name) in its own transaction."""

    name: str
    apply: Callable[[Tx], None]


def create_tables(metadata: MetaData) -> Callable[[Tx], None]:
    """A migration step that creates `metadata`'s tables and indexes with each dialect's DDL."""
    return lambda tx: metadata.create_all(tx.conn, checkfirst=True)


# ---- the store ------------------------------------------------------------------------------------------

_PLATFORM = MetaData()
Table("schema_versions", _PLATFORM, Column("name", String, primary_key=True), instant("applied_at"))
Table("processed_events", _PLATFORM,
      Column("consumer", String, nullable=False), Column("event_id", String, nullable=False),
      Column("outputs", LargeBinary), instant("processed_at"),
      PrimaryKeyConstraint("consumer", "event_id"), sqlite_with_rowid=False)
# a stream read with offset dedupe (`runner.Source.dedupe`): the next offset to handle, per consumer and partition
Table("stream_offsets", _PLATFORM,
      Column("consumer", String, nullable=False), Column("topic", String, nullable=False),
      Column("partition", Integer, nullable=False), Column("next_offset", BigInteger, nullable=False),
      PrimaryKeyConstraint("consumer", "topic", "partition"), sqlite_with_rowid=False)


class Store:
    """A database behind one small interface: `transaction()`, `read()`, `migrate()`, and the async front
    `reading()` / `writing()` for servicers."""

    def __init__(self, engine: Engine, *, schema: str | None = None, threads: int = 8) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self.schema = schema
        self._write_lock = threading.Lock() if self.dialect == SQLITE else None
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store")
        self._closed = threading.Event()
        with self.transaction() as tx:
            if self.dialect == POSTGRESQL and schema:
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('proactive-care/schemas'))")
                tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            elif self.dialect == SQLITE and tx.one("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'"):
                raise RuntimeError(f"{engine.url.database} was written by an earlier version of proactive-care "
                                   "(table schema_migrations): remove it, its state rebuilds from the topics")
            _PLATFORM.create_all(tx.conn, checkfirst=True)

    @classmethod
    def open(cls, url: str | Path, *, schema: str | None = None, threads: int = 8) -> Store:
        """`sqlite:///path/to/file.sqlite` (a bare path means SQLite too) or `postgresql://...`."""
        parsed = make_url(url if "://" in str(url) else f"sqlite:///{url}")
        if parsed.get_backend_name() == SQLITE:
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError("SQLite needs a file: replicas and threads share it")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": 30.0, "check_same_thread": False},
                                   pool_size=threads, max_overflow=threads)
            sqlite_backend.configure(engine)
        elif parsed.get_backend_name() == POSTGRESQL:
            args = {"options": f"-csearch_path={schema}"} if schema else {}
            engine = create_engine(parsed.set(drivername="postgresql+psycopg"), connect_args=args,
                                   pool_size=threads, max_overflow=threads, pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")
        return cls(engine, schema=schema, threads=threads)

    @classmethod
    def for_service(cls, settings: Settings, service: str) -> Store:
        """The service's store: `DATABASE_URL` (a schema per service) or its SQLite file in the data dir."""
        if settings.database_url:
            return cls.open(settings.database_url, schema=f"{settings.database_schema_prefix}{service}")
        return cls.open(settings.db_path(service))

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """BEGIN .. COMMIT (ROLLBACK on error): one atomic unit of effects."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(store_write=True)
                with conn.begin():
                    yield Tx(conn)
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (a consistent snapshot on SQLite's WAL; READ COMMITTED on PostgreSQL)."""
        with self.engine.connect() as conn:  # closing it rolls the (read-only) transaction back
            yield Tx(conn)

    async def reading(self, fn: Callable[[Tx], T]) -> T:
        """`fn(tx)` in a read transaction on the store's threads (never on the event loop)."""
        return await self._off_loop(self._read_call, fn)

    async def writing(self, fn: Callable[[Tx], T]) -> T:
        """`fn(tx)` in a write transaction on the store's threads (never on the event loop)."""
        return await self._off_loop(self._write_call, fn)

    async def call(self, fn: Callable[[], T]) -> T:
        """`fn()` (which opens its own transactions) on the store's threads."""
        return await self._off_loop(fn)

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, fn, *args)

    def _read_call(self, fn: Callable[[Tx], T]) -> T:
        with self.read() as tx:
            return fn(tx)

    def _write_call(self, fn: Callable[[Tx], T]) -> T:
        with self.transaction() as tx:
            return fn(tx)

    def migrate(self, migrations: Sequence[Migration]) -> None:
        """Apply each step not applied yet, in order, each in its own transaction."""
        for step in migrations:
            with self.transaction() as tx:
                if tx.postgresql:
                    tx.execute("SELECT pg_advisory_xact_lock(hashtext(:key))",
                               {"key": f"{self.schema}/migrations"})
                if tx.one("SELECT 1 FROM schema_versions WHERE name = :name", {"name": step.name}):
                    continue
                step.apply(tx)
                tx.execute("INSERT INTO schema_versions(name, applied_at) VALUES (:name, :at)",
                           {"name": step.name, "at": utc_now()})

    def listen(self, channel: str, on_message: Callable[[str], None]) -> bool:
        """Call `on_message(payload)` (on a thread of the store's) for every `tx.notify(channel, payload)` any
        replica commits. PostgreSQL only (LISTEN on a connection of its own, reconnecting after a failure);
        False on SQLite, where the caller's polling is the only way to learn of another process's writes."""
        if self.dialect != POSTGRESQL:
            return False
        thread = threading.Thread(target=self._listen, args=(f"{self.schema or 'public'}.{channel}", on_message),
                                  name=f"store-listen-{channel}", daemon=True)
        thread.start()
        return True

    def _listen(self, channel: str, on_message: Callable[[str], None]) -> None:
        import psycopg

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        quoted = '"' + channel.replace('"', '""') + '"'
        while not self._closed.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {quoted}")
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=1.0):
                            on_message(note.payload)
            except Exception:  # the server restarted or the connection dropped: listen again
                log.warning("store: LISTEN %s lost its connection; reconnecting", channel, exc_info=True)
                self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


# ---- idempotent effects --------------------------------------------------------------------------------

def claim_events(tx: Tx, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Record `event_ids` as processed by `consumer`; returns those that were not already recorded.

    The hot path of every worker, as driver SQL (no statement building per row): one INSERT .. SELECT
    unnest(array) .. ON CONFLICT DO NOTHING RETURNING on PostgreSQL, multi-row INSERTs on SQLite
    (`sqlite_backend.claim`)."""
    if not event_ids:
        return set()
    now = utc_now()
    if tx.postgresql:
        rows = tx.conn.exec_driver_sql(
            "INSERT INTO processed_events(consumer, event_id, processed_at)"
            " SELECT %(consumer)s, unnest(%(ids)s::text[]), %(now)s ON CONFLICT DO NOTHING RETURNING event_id",
            {"consumer": consumer, "ids": list(event_ids), "now": now})
        return {row[0] for row in rows}
    return sqlite_backend.claim(tx.conn, consumer, event_ids, now)


def stored_outputs(tx: Tx, consumer: str, event_ids: Iterable[str]) -> list[bytes]:
    """The outputs stored with already-processed events (to produce them again on redelivery); driver SQL,
    like the claim: `= ANY(array)` on PostgreSQL, `IN (?, ...)` chunks on SQLite."""
    ids = list(event_ids)
    if not ids:
        return []
    if tx.postgresql:
        rows = tx.conn.exec_driver_sql(
            "SELECT outputs FROM processed_events WHERE consumer = %(consumer)s AND event_id = ANY(%(ids)s)"
            " AND outputs IS NOT NULL", {"consumer": consumer, "ids": ids})
        return [bytes(r[0]) for r in rows]
    return sqlite_backend.stored_outputs(tx.conn, consumer, ids)


def claim_offsets(tx: Tx, consumer: str, spans: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """Move each partition's next offset to `spans[(topic, partition)]` (the batch's last offset + 1; never
    backwards) and return the next offsets stored before: a record below its partition's is a redelivery.

    One row per partition, locked for the transaction (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE`
    already serialises writers), so two replicas that both hold a partition for a moment (one of them a zombie of
    the last rebalance) cannot both handle a record: the second waits, then sees the first's offsets."""
    if not spans:
        return {}
    rows = [{"consumer": consumer, "topic": topic, "partition": partition, "next_offset": end}
            for (topic, partition), end in spans.items()]
    tx.execute("INSERT INTO stream_offsets(consumer, topic, partition, next_offset)"
               " VALUES (:consumer, :topic, :partition, 0) ON CONFLICT DO NOTHING", rows)
    sql = ("SELECT partition, next_offset FROM stream_offsets WHERE consumer = :consumer AND topic = :topic"
           " AND partition IN :partitions ORDER BY partition" + (" FOR UPDATE" if tx.postgresql else ""))
    before: dict[tuple[str, int], int] = {}
    for topic in sorted({t for t, _ in spans}):
        partitions = sorted(p for t, p in spans if t == topic)
        before.update(((topic, int(r[0])), int(r[1])) for r in tx.all(
            sql, {"consumer": consumer, "topic": topic, "partitions": partitions}, lists=("partitions",)))
    tx.execute("UPDATE stream_offsets SET next_offset = :next_offset WHERE consumer = :consumer AND topic = :topic"
               " AND partition = :partition AND next_offset < :next_offset", rows)
    return {key: before.get(key, 0) for key in spans}


def save_outputs(tx: Tx, consumer: str, outputs: Iterable[tuple[str, bytes]]) -> None:
    """Store the outputs of handled events (beside their claim, or on a row of their own when the stream dedupes
    by offset), to produce them again if the batch is redelivered."""
    now = utc_now()
    params = [{"outputs": blob, "consumer": consumer, "event_id": event_id, "now": now}
              for event_id, blob in outputs]
    if params:
        tx.execute("INSERT INTO processed_events(consumer, event_id, processed_at, outputs)"
                   " VALUES (:consumer, :event_id, :now, :outputs)"
                   " ON CONFLICT (consumer, event_id) DO UPDATE SET outputs = excluded.outputs", params)


def prune_processed(tx: Tx, consumer: str, older_than_hours: float, now: datetime | None = None) -> int:
    """Forget processed-event records older than Kafka could redeliver them."""
    cutoff = (now or utc_now()) - timedelta(hours=older_than_hours)
    return tx.execute("DELETE FROM processed_events WHERE consumer = :consumer AND processed_at < :cutoff",
                      {"consumer": consumer, "cutoff": cutoff}).rowcount


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
