"""No train/serve skew, and no feature changed by the faster engine: training data (the offline replay, one
transaction at a time) and the stream (poll batches through the store, the state packed and read back) give the
same features, feature by feature, and both give what the engine gave before (`golden_features.py`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest

from services.fraud.events import Label, TxEvent
from services.fraud.features import FEATURE_NAMES, FeatureEngine
from services.fraud.repository import MIGRATIONS, FraudRepository
from services.fraud.state_cache import CacheLimits, FeatureStateCache, keys_of
from services.fraud.state_codec import decode, encode
from services.platform.storage import Store
from tests.unit.fraud.golden_features import FIXTURE, bank_events, bank_matrix, differences, handbook_matrix

POLL = 200  # transactions a poll batch
# few states cached and none trusted for long: most batches read their customers and shops back from the store
SMALL_CACHE = CacheLimits(customers=25, entities=25, ttl_seconds=0.0)


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, object]]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def one_at_a_time() -> np.ndarray:
    return bank_matrix()


def test_training_data_features_are_the_pinned_ones(golden) -> None:
    assert differences(golden["handbook"], handbook_matrix()) == []


def test_stream_features_one_at_a_time_are_the_pinned_ones(golden, one_at_a_time) -> None:
    assert differences(golden["bank"], one_at_a_time) == []


def timeline(txs: list[TxEvent], labels: list[Label]) -> Iterator[list[TxEvent] | list[Label]]:
    """Poll batches of transactions, and between them the labels that became known (as the worker receives
    them from `fraud-feedback`: known at once), each label before the first transaction at or after its time."""
    pending = sorted(labels, key=lambda lb: lb.known_at)
    batch: list[TxEvent] = []
    for tx in txs:
        due = []
        while pending and pending[0].known_at <= tx.ts and (not batch or tx.ts > batch[-1].ts):
            due.append(pending.pop(0))
        if due:
            if batch:
                yield batch
                batch = []
            yield [Label(lb.tx_id, lb.customer_id, lb.terminal_id, lb.merchant_id, lb.mcc, lb.tx_ts, lb.fraud,
                         -math.inf) for lb in due]
        batch.append(tx)
        if len(batch) == POLL:
            yield batch
            batch = []
    if batch:
        yield batch


def through_the_store(store: Store, txs: list[TxEvent], labels: list[Label]) -> np.ndarray:
    """The worker's path: each poll batch loads its customers' and shops' stored state, is featurized in one
    `process_batch`, and writes back what it changed (packed), in one store transaction."""
    engine = FeatureEngine(track_dirty=True)
    cache = FeatureStateCache(engine, SMALL_CACHE)
    rows: list[np.ndarray] = []
    for batch in timeline(txs, labels):
        with store.transaction() as tx:
            repo = FraudRepository(tx)
            cache.begin()
            cache.load(repo, (item.customer_id for item in batch),
                       [k for item in batch for k in keys_of(item.terminal_id, item.merchant_id, item.mcc)])
            if isinstance(batch[0], Label):
                engine.add_labels(batch)  # type: ignore[arg-type]
            else:
                rows.append(engine.process_batch(batch))  # type: ignore[arg-type]
            cache.persist(repo)
        cache.committed()
    return np.concatenate(rows)


def test_stream_batches_through_the_store_give_the_training_features(open_store, one_at_a_time) -> None:
    store = open_store("fraud_parity")
    store.migrate(MIGRATIONS)
    txs, labels = bank_labels()
    batched = through_the_store(store, txs, labels)
    assert batched.shape == one_at_a_time.shape
    mismatched = [name for j, name in enumerate(FEATURE_NAMES)
                  if not np.array_equal(batched[:, j], one_at_a_time[:, j], equal_nan=True)]
    assert mismatched == []
    with store.read() as tx:  # and the store holds the states packed
        assert tx.scalar("SELECT count(*) FROM fraud_customer_state WHERE packed IS NULL") == 0


def bank_labels() -> tuple[list[TxEvent], list[Label]]:
    txs, known = bank_events()
    return txs, [Label(t.tx_id, t.customer_id, t.terminal_id, t.merchant_id, t.mcc, t.ts, True, known[t.tx_id])
                 for t in txs if t.tx_id in known]


def test_packed_states_read_back_as_their_json_round_trip() -> None:
    txs, labels = bank_labels()
    engine = FeatureEngine()
    engine.add_labels(labels)
    for t in txs:
        engine.process(t)
    states = [("customer", s) for s in engine.customers.values()]
    states += [(kind, s) for kind, table in engine.entities.items() for s in table.values()]
    assert {kind for kind, _ in states} == {"customer", "terminal", "merchant", "mcc"}
    for kind, state in states:
        packed, text = encode(state)
        assert packed is not None and text == ""
        assert decode(kind, packed, None).to_dict() == state.to_dict()
        legacy = decode(kind, None, json.dumps(state.to_dict()))  # a row the previous version wrote
        assert legacy.to_dict() == state.to_dict()


def test_a_state_that_cannot_be_packed_is_stored_as_json() -> None:
    engine = FeatureEngine()
    engine.process(TxEvent("tx\x00odd", "c1", "T1", 1_000.0, 500, "EUR", 5.0))
    packed, text = encode(engine.customers["c1"])
    assert packed is None
    assert decode("customer", None, text).to_dict() == engine.customers["c1"].to_dict()


def test_during_a_rolling_upgrade_states_can_be_written_as_json_the_previous_version_reads() -> None:
    engine = FeatureEngine()
    engine.process(TxEvent("tx-1", "c1", "T1", 1_000.0, 500, "EUR", 5.0, merchant_id="M1", mcc="5411"))
    for kind, state in (("customer", engine.customers["c1"]), ("terminal", engine.entities["terminal"]["T1"]),
                        ("merchant", engine.entities["merchant"]["M1"])):
        packed, text = encode(state, packed_form=False)
        assert packed is None and json.loads(text) == state.to_dict()  # what the JSON-only version reads
        assert decode(kind, packed, text).to_dict() == state.to_dict()
