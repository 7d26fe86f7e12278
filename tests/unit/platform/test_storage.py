"""The store's contract, on SQLite and on PostgreSQL: instants, migrations, isolation, the async front."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table

from services.gen.proactivecare.v1 import events_pb2
from services.platform.storage import Migration, Store, as_utc, claim_offsets, create_tables, instant
from services.platform.streams import profile_event_id

_META = MetaData()
Table("things", _META, Column("id", String, primary_key=True), instant("at"))
MIGRATIONS = [Migration("test/0001_things", create_tables(_META))]


@pytest.fixture
def store(open_store: Callable[[str], Store]) -> Store:
    store = open_store("contract")
    store.migrate(MIGRATIONS)
    return store


def test_an_instant_comes_back_as_the_same_utc_instant_and_orders_as_time(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    early = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=paris)  # 08:30 UTC
    late = datetime(2026, 3, 1, 8, 45, tzinfo=UTC)
    with store.transaction() as tx:
        tx.execute("INSERT INTO things(id, at) VALUES (:id, :at)", [{"id": "late", "at": late},
                                                                    {"id": "early", "at": early}])
    with store.read() as tx:
        got = {r.id: as_utc(r.at) for r in tx.all("SELECT id, at FROM things ORDER BY at")}
        assert list(got) == ["early", "late"]
        assert got["early"] == early and got["early"].tzinfo == UTC
        assert [r.id for r in tx.all("SELECT id FROM things WHERE at < :t",
                                     {"t": datetime(2026, 3, 1, 8, 40, tzinfo=UTC)})] == ["early"]


def test_a_naive_datetime_is_refused(open_store: Callable[[str], Store], backend: str) -> None:
    if backend == "postgresql":
        pytest.skip("PostgreSQL reads a naive timestamp in the session's time zone (UTC): only SQLite refuses")
    store = open_store("naive")
    store.migrate(MIGRATIONS)
    with pytest.raises(Exception, match="naive"), store.transaction() as tx:
        tx.execute("INSERT INTO things(id, at) VALUES ('x', :at)", {"at": datetime(2026, 1, 1)})


def test_each_migration_step_is_applied_once_in_order(open_store: Callable[[str], Store]) -> None:
    applied: list[str] = []
    steps = [Migration("m/1", lambda tx: applied.append("1")), Migration("m/2", lambda tx: applied.append("2"))]
    first, second = open_store("migrations"), open_store("migrations")  # two replicas on one database
    first.migrate(steps[:1])
    second.migrate(steps)
    first.migrate(steps)
    assert applied == ["1", "2"]


def test_a_read_sees_only_committed_writes(store: Store) -> None:
    writing, checked = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction() as tx:
            tx.execute("INSERT INTO things(id, at) VALUES ('w', :at)", {"at": datetime.now(UTC)})
            writing.set()
            checked.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(10)
    with store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM things") == 0
    checked.set()
    thread.join(10)
    with store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM things") == 1


def test_a_list_parameter_expands_in_one_cached_statement_whatever_its_length(store: Store) -> None:
    """`IN :ids` with `lists=("ids",)`: any number of values, one statement (SQL built per length would keep a
    compiled statement per length in the process's caches, hundreds of KB each at 500 values)."""
    from services.platform.storage import _text

    now = datetime.now(UTC)
    with store.transaction() as tx:
        tx.execute("INSERT INTO things(id, at) VALUES (:id, :at)", [{"id": f"t{i}", "at": now} for i in range(60)])
    made = _text.cache_info().misses
    sql = "SELECT id FROM things WHERE id IN :ids ORDER BY id"
    with store.read() as tx:
        for n in (1, 7, 60):
            wanted = [f"t{i}" for i in range(n)] + ["absent"]
            assert [r[0] for r in tx.all(sql, {"ids": wanted}, lists=("ids",))] == sorted(wanted[:-1])
    assert _text.cache_info().misses <= made + 1  # one statement made at most (none if another test made it)


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("INSERT INTO things(id, at) VALUES ('x', :at)", {"at": datetime.now(UTC)})
        raise RuntimeError("the handler failed")
    with store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM things") == 0


def test_the_async_front_runs_the_database_work_off_the_event_loop(store: Store) -> None:
    async def main() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        await store.writing(lambda tx: tx.execute("INSERT INTO things(id, at) VALUES ('a', :at)",
                                                  {"at": datetime.now(UTC)}))
        worker = await store.reading(lambda tx: threading.get_ident())
        return loop_thread, worker

    loop_thread, worker = asyncio.run(main())
    assert worker != loop_thread
    with store.read() as tx:
        assert tx.scalar("SELECT id FROM things") == "a"


def test_a_database_of_the_earlier_layout_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = tmp_path / "fraud.sqlite"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
    with pytest.raises(RuntimeError, match="remove it"):
        Store.open(old)


def test_a_profile_event_is_identified_by_its_content_not_its_position() -> None:
    profile = events_pb2.CustomerProfile(customer_id="C1", segment="mass")
    profile.updated_at.FromSeconds(1_700_000_000)
    changed = events_pb2.CustomerProfile(customer_id="C1", segment="affluent")
    changed.updated_at.FromSeconds(1_700_000_000)

    class Rec:
        def __init__(self, value: bytes, offset: int) -> None:
            self.value, self.offset, self.partition = value, offset, 0

    same = [profile_event_id(profile, Rec(profile.SerializeToString(), o)) for o in (3, 3_000)]  # type: ignore[arg-type]
    assert same[0] == same[1] and same[0].startswith("C1@")
    assert profile_event_id(changed, Rec(changed.SerializeToString(), 3)) != same[0]  # type: ignore[arg-type]


def test_a_postgresql_store_opened_without_a_schema_works_in_the_default_one(postgres_url: str) -> None:
    store = Store.open(postgres_url)  # no schema: the server's search path (public)
    try:
        with store.read() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM processed_events WHERE consumer = :c", {"c": "nobody"}) == 0
    finally:
        store.close()


def test_offset_claims_move_each_partition_forward_only_and_return_where_it_stood(store: Store) -> None:
    with store.transaction() as tx:
        assert claim_offsets(tx, "g", {("t", 0): 10, ("t", 1): 3}) == {("t", 0): 0, ("t", 1): 0}
    with store.transaction() as tx:
        assert claim_offsets(tx, "g", {("t", 0): 7}) == {("t", 0): 10}  # a redelivery: never backwards
        assert claim_offsets(tx, "g", {("t", 0): 12, ("u", 0): 1}) == {("t", 0): 10, ("u", 0): 0}
        assert claim_offsets(tx, "other-group", {("t", 0): 1}) == {("t", 0): 0}
    with store.transaction() as tx:
        assert claim_offsets(tx, "g", {("t", 0): 12, ("t", 1): 3, ("u", 0): 1}) == {("t", 0): 12, ("t", 1): 3,
                                                                                   ("u", 0): 1}
    try:
        with store.transaction() as tx:
            claim_offsets(tx, "g", {("t", 1): 50})
            raise RuntimeError("the batch failed")
    except RuntimeError:
        pass
    with store.transaction() as tx:
        assert claim_offsets(tx, "g", {("t", 1): 4}) == {("t", 1): 3}  # a rolled-back batch moved nothing


def test_two_replicas_holding_one_partition_cannot_both_claim_a_record(store: Store) -> None:
    """The second transaction waits for the first (a row lock on PostgreSQL, the write lock on SQLite), then sees
    the offset the first committed: its copy of the batch is a redelivery."""
    assert _claim_in_own_tx(store, {("t", 0): 5}) == {("t", 0): 0}  # the partition's row exists already
    seen: list[dict] = []
    holding, go_on = threading.Event(), threading.Event()

    def first() -> None:
        with store.transaction() as tx:
            seen.append(claim_offsets(tx, "g", {("t", 0): 20}))
            holding.set()
            go_on.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    second: list[dict] = []
    waiter = threading.Thread(target=lambda: second.append(_claim_in_own_tx(store, {("t", 0): 20})))
    waiter.start()
    waiter.join(0.5)
    assert second == []  # still waiting for the first
    go_on.set()
    thread.join(10)
    waiter.join(10)
    assert seen == [{("t", 0): 5}] and second == [{("t", 0): 20}]


def _claim_in_own_tx(store: Store, spans: dict) -> dict:
    with store.transaction() as tx:
        return claim_offsets(tx, "g", spans)
