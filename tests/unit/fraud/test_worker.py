"""The stream handler against a real store, with a stub model: alerts, notifications, feedback, restart."""

import datetime as dt
import time

import pytest

from services.fraud.features import FEATURE_NAMES
from services.fraud.metrics import FraudMetrics
from services.fraud.model import FraudModel, ModelCard
from services.fraud.policy import load_policy
from services.fraud.repository import MIGRATIONS, FraudRepository
from services.fraud.scoring import DEFAULT_LIMITS, FraudScorer
from services.fraud.state_cache import CacheLimits
from services.fraud.worker import FraudHandler
from services.gen.proactivecare.v1 import events_pb2
from services.platform.runner import Record
from services.platform.settings import Settings
from services.platform.storage import Store
from tests.unit.fraud.builders import StubEstimator, card_payment, usual_history

NAMES = list(FEATURE_NAMES)
NOW = time.time()


def make_handler(store: Store, limits: CacheLimits = DEFAULT_LIMITS) -> FraudHandler:
    from prometheus_client import CollectorRegistry

    card = ModelCard(version="stub-1", algorithm="stub", features=NAMES, feature_config={"label_delay_days": 7},
                     training_window={}, metrics={}, created_at="")
    model = FraudModel(StubEstimator({"amount_to_customer_median_30d": 1.2, "terminal_known_frauds_recent": 2.0},
                                     NAMES), card)
    scorer = FraudScorer(model, load_policy(dt.date(2026, 12, 1)), limits=limits)
    handler = FraudHandler(Settings(), scorer, FraudMetrics.create(CollectorRegistry()))
    handler.store = store  # type: ignore[attr-defined]  # where `run` applies its batches
    return handler


def records(txs: list, topic: str = "transactions") -> list[Record]:
    return [Record(topic, 0, i, t.customer_id, f"{topic}/{t.transaction_id if topic != 'transactions' else t.id}",
                   t, 1_000) for i, t in enumerate(txs)]


def run(handler: FraudHandler, recs: list[Record]) -> dict:
    """One batch as the runner applies it: handled in a store transaction, then told it committed."""
    with handler.store.transaction() as tx:  # type: ignore[attr-defined]
        out = dict(handler.handle(recs, tx))
    handler.committed(recs)
    return out


@pytest.fixture
def store(open_store) -> Store:
    store = open_store("fraud")
    store.migrate(MIGRATIONS)
    return store


@pytest.fixture
def handler(store: Store) -> FraudHandler:
    return make_handler(store)


def test_suspicious_payment_stores_one_alert_and_one_notification(handler: FraudHandler) -> None:
    assert run(handler, records(usual_history("c1", NOW))) == {}
    out = run(handler, records([card_payment("big", "c1", 16_000, "T-c1-0", NOW + 1)]))
    [(event_id, [output])] = out.items()
    note = events_pb2.Notification.FromString(output.value)
    assert (event_id, output.topic, output.key) == ("transactions/big", "notifications", "c1")
    assert note.id == "fraud:fa-big" and note.kind == events_pb2.NOTIFICATION_KIND_FRAUD_ALERT
    assert note.body.startswith("€160.00 at Shop T-c1-0. It stood out: 5x your usual amount")
    # the same transaction again (another replica, or the RPC path first): no second alert or notification
    assert run(handler, records([card_payment("big", "c1", 16_000, "T-c1-0", NOW + 1)])) == {}
    with handler.store.read() as tx:  # type: ignore[attr-defined]
        assert tx.scalar("SELECT COUNT(*) FROM fraud_alerts") == 1


def test_non_card_transactions_are_not_scored(handler: FraudHandler) -> None:
    salary = card_payment("sal", "c1", 300_000, "", NOW, direction=events_pb2.DIRECTION_CREDIT,
                          channel=events_pb2.CHANNEL_SALARY)
    assert run(handler, records([salary])) == {}
    assert handler.scorer.engine.customers == {}


@pytest.mark.parametrize(("alert_id", "frozen"), [("fa-x1", {"card-c9"}), ("", set())],
                         ids=["answer-to-an-alert", "chargeback"])
def test_confirmed_fraud_teaches_the_terminal_and_an_answer_freezes_the_card(handler: FraudHandler, alert_id: str,
                                                                             frozen: set[str]) -> None:
    if alert_id:  # an answer freezes a card only when it matches a stored alert of that card and customer
        run(handler, records(usual_history("c9", NOW - 60)))
        assert run(handler, records([card_payment("x1", "c9", 16_000, "T-HOT", NOW)]))  # alert fa-x1
    fb = events_pb2.FraudFeedback(alert_id=alert_id, transaction_id="x1", customer_id="c9", card_token="card-c9",
                                  terminal_id="T-HOT", confirmed_fraud=True)
    fb.transaction_time.FromSeconds(int(NOW))
    run(handler, records([fb], topic="fraud-feedback"))
    with handler.store.read() as tx:  # type: ignore[attr-defined]
        assert FraudRepository(tx).frozen_among(["card-c9", "card-c1"]) == frozen
    assert handler.scorer.engine.entities["terminal"]["T-HOT"].fraud_times == [float(int(NOW))]


def test_feature_state_survives_a_restart(store: Store) -> None:
    first = make_handler(store)
    run(first, records(usual_history("c1", NOW)))
    restarted = make_handler(store)  # same store, fresh process
    out = run(restarted, records([card_payment("big", "c1", 16_000, "T-c1-0", NOW + 1)]))
    assert list(out) == ["transactions/big"]  # the usual amount was remembered: 5x stands out
