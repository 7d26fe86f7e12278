"""Fraud's feature state across replicas, against a real store (both backends): two handlers on one store are two
replicas of the worker. A partition moving between them gives the features one worker gives; a stale copy cannot
overwrite a newer one; the cache stays within its limits; a shared terminal's risk reaches the other replica
once its TTL passed; a batch that did not commit leaves nothing behind; a shared entity's copy at the stored
version is written without reading the row back, and a row any other writer changed is read and added to."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from services.fraud.features import FEATURE_INDEX
from services.fraud.repository import MIGRATIONS, FraudRepository
from services.fraud.state_cache import FOREVER, CacheLimits
from services.fraud.windows import EntityVolume
from services.fraud.worker import FraudHandler
from services.gen.proactivecare.v1 import events_pb2
from services.platform.errors import ConcurrentUpdateError, is_transient
from services.platform.storage import Store
from tests.unit.fraud.builders import card_payment
from tests.unit.fraud.test_worker import NOW, make_handler, records, run

DAY = 86400.0
NO_TTL = CacheLimits(ttl_seconds=0.0)


@pytest.fixture
def stores(open_store) -> Iterator[tuple[Store, Store]]:
    """Two stores: one for the replicas, one for the single worker they are compared with."""
    pair = open_store("fraud_replicas"), open_store("fraud_single")
    for store in pair:
        store.migrate(MIGRATIONS)
    yield pair


def record_features(handler: FraudHandler) -> dict[str, np.ndarray]:
    """Observe the features the handler's engine computes, by transaction id."""
    seen: dict[str, np.ndarray] = {}
    engine = handler.scorer.engine
    compute = engine.process_batch

    def process_batch(txs, join=True):  # type: ignore[no-untyped-def]
        rows = compute(txs, join)
        seen.update((t.tx_id, row.copy()) for t, row in zip(txs, rows, strict=True))
        return rows

    engine.process_batch = process_batch  # type: ignore[method-assign]
    return seen


def batches() -> list[list[events_pb2.Transaction]]:
    """Six batches of three customers who share one shop (T-shared) and each have their own."""
    out = []
    for b in range(6):
        batch = []
        for c in ("c1", "c2", "c3"):
            for i in range(3):
                n = b * 3 + i
                terminal = "T-shared" if n % 2 else f"T-{c}"
                amount = 3000 + 137 * ((n * 7 + len(c)) % 11) + (40_000 if (c, n) == ("c1", 16) else 0)
                batch.append(card_payment(f"{c}-{n}", c, amount, terminal, NOW - 9 * DAY + n * DAY / 2
                                          + int(c[1]) * 60))
        batch.sort(key=lambda t: t.timestamp.seconds)
        out.append(batch)
    return out


def test_a_partition_moving_between_replicas_gives_the_features_of_one_worker(stores) -> None:
    replicas_store, single_store = stores
    single = make_handler(single_store, NO_TTL)
    a, b = make_handler(replicas_store, NO_TTL), make_handler(replicas_store, NO_TTL)
    want, got_a, got_b = record_features(single), record_features(a), record_features(b)
    # which replica holds the customers' partition for each batch: A, then B, back to A, B, A, A
    owners = [a, b, a, b, a, a]
    outputs_single, outputs_replicas = {}, {}
    for batch, owner in zip(batches(), owners, strict=True):
        outputs_single.update(run(single, records(batch)))
        outputs_replicas.update(run(owner, records(batch)))
    got = {**got_a, **got_b}
    assert set(got) == set(want) and len(want) == 54
    for tx_id, row in want.items():
        np.testing.assert_array_equal(got[tx_id], row, err_msg=tx_id)
    assert list(outputs_replicas) == list(outputs_single) == ["transactions/c1-16"]  # the 14x payment alerts
    with single_store.read() as tx:
        single_state = sorted(FraudRepository(tx).load_feature_state())
    with replicas_store.read() as tx:
        replicas_state = sorted(FraudRepository(tx).load_feature_state())
    assert replicas_state == single_state


def test_a_replica_holding_a_stale_copy_cannot_overwrite_the_newer_state(stores) -> None:
    store, _ = stores
    a, b = make_handler(store, NO_TTL), make_handler(store, NO_TTL)
    first, second = batches()[:2]
    run(a, records(first))
    run(b, records(second))  # the partition moved to B, which wrote version 2
    with store.read() as tx:
        newer = FraudRepository(tx).load_customers(["c1"])["c1"]
    assert newer[0] == 2 and "c1-5" in newer[1]["ids"]
    # A still holds version 1 of c1: a write of it (as if A had missed the move) is refused
    a.scorer.engine.dirty.add(("customer", "c1"))
    with store.transaction() as tx, pytest.raises(ConcurrentUpdateError) as refused:
        a.scorer.persist(FraudRepository(tx))
    assert is_transient(refused.value)  # the runner retries the batch, it does not dead-letter it
    with store.read() as tx:
        assert FraudRepository(tx).load_customers(["c1"])["c1"] == newer  # untouched
    assert "c1" not in a.scorer.engine.customers  # the stale copy is gone: the retry loads the stored one


def test_the_cache_holds_at_most_its_limit_and_reloads_an_evicted_customer(stores) -> None:
    bounded_store, unbounded_store = stores
    bounded = make_handler(bounded_store, CacheLimits(customers=2, entities=2, ttl_seconds=0.0))
    unbounded = make_handler(unbounded_store, NO_TTL)
    want, got = record_features(unbounded), record_features(bounded)
    customers = [f"k{i}" for i in range(8)]
    for day in range(4):
        for c in customers:  # each customer a batch of its own: all but two are evicted by the next ones
            batch = [card_payment(f"{c}-{day}-{i}", c, 2500 + 300 * i + 50 * day, f"T-{c}-{i}",
                                  NOW - 5 * DAY + day * DAY + i * 600) for i in range(2)]
            run(bounded, records(batch))
            run(unbounded, records(batch))
            assert len(bounded.scorer.engine.customers) <= 2
            assert all(len(table) <= 2 for table in bounded.scorer.engine.entities.values())
    assert len(unbounded.scorer.engine.customers) == 8
    for tx_id, row in want.items():
        np.testing.assert_array_equal(got[tx_id], row, err_msg=tx_id)


def test_a_terminal_learnt_as_compromised_on_one_replica_reaches_the_other_after_the_ttl(stores) -> None:
    store, _ = stores
    a, b = make_handler(store), make_handler(store)  # the default TTL of a few seconds, on a clock of ours
    now = [0.0]
    for handler in (a, b):
        handler.scorer.state.clock = lambda: now[0]
    seen = record_features(b)
    run(b, records([card_payment("p1", "c2", 3000, "T-HOT", NOW - 60)]))  # B has read T-HOT
    fb = events_pb2.FraudFeedback(alert_id="", transaction_id="x1", customer_id="c9", card_token="card-c9",
                                  terminal_id="T-HOT", confirmed_fraud=True)
    fb.transaction_time.FromSeconds(int(NOW - 30))
    run(a, records([fb], topic="fraud-feedback"))  # the answer reached replica A
    frauds = FEATURE_INDEX["terminal_known_frauds_recent"]
    now[0] += 1.0  # within the TTL: B scores with what it read
    run(b, records([card_payment("p2", "c2", 3000, "T-HOT", NOW - 20)]))
    now[0] += b.scorer.state.limits.ttl_seconds  # past it: B reads the terminal again
    run(b, records([card_payment("p3", "c2", 3000, "T-HOT", NOW - 10)]))
    assert [seen[t][frauds] for t in ("p1", "p2", "p3")] == [0.0, 0.0, 1.0]
    with store.read() as tx:
        [hot] = FraudRepository(tx).load_entities("terminal", ["T-HOT"]).values()
    assert hot["fraud_times"] == [float(int(NOW - 30))]  # A added the label to the row B added payments to
    assert len(hot["times"]) == 3


def test_a_batch_whose_transaction_did_not_commit_leaves_nothing_behind(stores) -> None:
    store, single_store = stores
    handler, single = make_handler(store), make_handler(single_store)
    handler.scorer.state.clock = single.scorer.state.clock = lambda: 0.0  # within the TTL throughout
    got, want = record_features(handler), record_features(single)
    first, second, third = batches()[:3]
    run(handler, records(first))
    run(single, records(first))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        handler.handle(records(second), tx)
        raise RuntimeError("the commit failed")  # e.g. the database went away before COMMIT
    run(handler, records(second))  # the runner's retry of the same batch
    run(handler, records(third))
    run(single, records(second))
    run(single, records(third))
    for tx_id, row in want.items():
        np.testing.assert_array_equal(got[tx_id], row, err_msg=tx_id)
    with store.read() as tx:
        ids = FraudRepository(tx).load_customers(["c1"])["c1"][1]["ids"]
    assert ids == [f"c1-{n}" for n in range(9)]  # each payment once


def test_hourly_merchant_rows_live_apart_from_the_earlier_lists_of_times_and_start_from_them(stores) -> None:
    """A rolling upgrade runs fraud-features/3 replicas (a merchant's row: a list of times) beside /4 ones (counts
    per hour): neither writes the other's row, and an hourly row not written yet starts from the earlier times."""
    store, _ = stores
    earlier = {"times": [3600.0 * 10 + 5, 3600.0 * 10 + 50, 3600.0 * 12], "fraud_times": [3600.0 * 12],
               "fraud_ids": ["tx-9"]}
    with store.transaction() as tx:  # what a fraud-features/3 replica stored (and goes on storing)
        tx.execute("INSERT INTO fraud_feature_state(kind, key, state) VALUES ('merchant', 'M1', :s)",
                   {"s": json.dumps(earlier)})
    with store.transaction() as tx:
        repo = FraudRepository(tx)
        repo.create_entities([("merchant", "M1"), ("terminal", "T1")])
        seeded = repo.load_entities("merchant", ["M1"], lock=True)
        assert seeded == {"M1": earlier}  # read from the earlier row: the counts carry on
        volume = EntityVolume.from_dict(seeded["M1"])
        assert volume.count(3600.0 * 9, 3600.0 * 12) == 3
        repo.save_entities([("merchant", "M1", volume.to_dict())])
    with store.read() as tx:
        kinds = dict(((r.kind, r.key), json.loads(r.state)) for r in tx.all("SELECT kind, key, state FROM"
                                                                            " fraud_feature_state"))
        assert kinds[("merchant", "M1")] == earlier                       # the earlier row untouched
        assert kinds[("merchant.hourly", "M1")]["counts"] == [2, 1]       # the hourly row apart
        assert FraudRepository(tx).load_entities("merchant", ["M1"])["M1"]["hours"] == [10, 12]
        states = {(kind, key) for kind, key, _ in FraudRepository(tx).load_feature_state()}
        assert states == {("merchant", "M1"), ("terminal", "T1")}         # the earlier row is not a state now


@pytest.mark.parametrize("write", ["this version", "an earlier version or a tool"])
def test_every_write_of_a_shared_entity_raises_its_version(stores, write: str) -> None:
    """An earlier version of the service (a rolling upgrade) or a tool writes a row without touching its version:
    the store raises it anyway, so no replica takes its copy for the stored row and overwrites that write."""
    store, _ = stores
    with store.transaction() as tx:
        repo = FraudRepository(tx)
        repo.create_entities([("terminal", "T1"), ("merchant", "M1")])
        assert repo.entity_versions("terminal", ["T1", "T-none"]) == {"T1": 0}  # created, nothing written yet
    for expected in (1, 2):
        with store.transaction() as tx:
            repo = FraudRepository(tx)
            state = EntityVolume.from_dict({"hours": [10], "counts": [expected]})
            if write == "this version":
                repo.save_entity_states([("merchant", "M1", state)])
            else:
                repo.save_entities([("merchant", "M1", state.to_dict())])  # SET packed, state: version untouched
        with store.read() as tx:
            repo = FraudRepository(tx)
            assert repo.entity_versions("merchant", ["M1"]) == {"M1": expected}
            [(version, stored)] = repo.load_entity_states("merchant", ["M1"]).values()
            assert version == expected and stored.count(0, 3600 * 11) == expected


def test_a_copy_at_the_stored_version_is_written_without_reading_the_row_and_a_changed_row_is_added_to(
        stores, monkeypatch) -> None:
    store, _ = stores
    handler = make_handler(store, NO_TTL)  # every batch checks the entities it touches against the store
    read: list[tuple[str, str]] = []
    load = FraudRepository.load_entity_states

    def counting(self, kind, keys, *, lock=False):  # type: ignore[no-untyped-def]
        keys = list(keys)
        read.extend((kind, key) for key in keys)
        return load(self, kind, keys, lock=lock)

    monkeypatch.setattr(FraudRepository, "load_entity_states", counting)
    start = float(int(NOW - 5 * DAY))  # whole seconds: the times come back exactly
    pay = [card_payment(f"p{i}", "c1", 3000 + i, "T1", start + i * 3600) for i in range(4)]
    run(handler, records(pay[:1]))
    assert ("terminal", "T1") in read  # the first time: read (no copy yet)
    read.clear()
    run(handler, records(pay[1:2]))
    assert read == []  # the copy is the stored row: neither the TTL's check nor the write read a state
    with store.transaction() as tx:  # a writer that is not this replica adds a payment at T1
        repo = FraudRepository(tx)
        [(_version, terminal)] = repo.load_entity_states("terminal", ["T1"]).values()
        terminal.merge([start + 1800], [], FOREVER)
        repo.save_entities([("terminal", "T1", terminal.to_dict())])
    read.clear()
    run(handler, records(pay[2:3]))
    assert ("terminal", "T1") in read  # its version moved: read again
    read.clear()
    run(handler, records(pay[3:]))
    assert read == []
    with store.read() as tx:
        [stored] = FraudRepository(tx).load_entities("terminal", ["T1"]).values()
    assert stored["times"] == sorted([start + 1800] + [start + i * 3600 for i in range(4)])
