"""Did the care work? Follow-ups open once, close once, and each service's rule closes its warnings in event
time: an overdraft before payday (advice), a mortgage payment made or missed (mortgage), further fraud on an
alerted card or a payment the customer confirmed (fraud). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from services.advice import worker as advice
from services.advice.facts import TxFacts
from services.advice.state import CustomerState
from services.fraud import worker as fraud
from services.gen.proactivecare.v1 import events_pb2
from services.mortgage import activity as act
from services.mortgage import worker as mortgage
from services.platform import followups
from services.platform.followups import AVOIDED, HAPPENED, NOT_APPLICABLE, FollowUp, FollowUps
from services.platform.storage import Store, Tx

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(open_store: Callable[[str], Store]) -> Store:
    store = open_store("followups")
    store.migrate([followups.migration("test")])
    return store


def watch(tx: Tx) -> FollowUps:
    return FollowUps(tx, "test", "care-followups", followups.counter(CollectorRegistry()))


def closed(outputs: list) -> list[tuple[str, int, datetime]]:
    events = [events_pb2.CareFollowUp.FromString(o.value) for o in outputs]
    return [(e.id, e.outcome, e.closed_at.ToDatetime(UTC)) for e in events]


def test_a_follow_up_opens_once_and_closes_once_with_its_record(store: Store) -> None:
    f = FollowUp("n-1", "cust-1", followups.SHORTFALL_WARNING, T0, T0 + timedelta(days=5))
    with store.transaction() as tx:
        assert watch(tx).open(f)
        assert not watch(tx).open(f)                         # a redelivered warning is not watched twice
    with store.transaction() as tx:
        w = watch(tx)
        w.load(["cust-1", "cust-2"])
        assert w.of("cust-1") == [f] and w.of("cust-2") == []
        out = w.close(f, HAPPENED, T0 + timedelta(days=1))
        assert out is not None and out.topic == "care-followups" and out.key == "cust-1"
        event = events_pb2.CareFollowUp.FromString(out.value)
        assert (event.kind, event.source, event.outcome) == ("shortfall_warning", "test", HAPPENED)
        assert w.of("cust-1") == []
    with store.transaction() as tx:                          # another replica, or the batch redelivered
        assert watch(tx).close(f, AVOIDED, T0) is None
        assert watch(tx).of("cust-1") == []


def test_expiry_closes_only_the_windows_that_ended(store: Store) -> None:
    early = FollowUp("a-1", "cust-1", followups.FRAUD_ALERT, T0, T0 + timedelta(days=1))
    late = FollowUp("a-2", "cust-1", followups.FRAUD_ALERT, T0, T0 + timedelta(days=30))
    with store.transaction() as tx:
        w = watch(tx)
        w.open(early), w.open(late)
        assert closed(w.expire("cust-1", T0 + timedelta(days=2), AVOIDED)) == [
            ("a-1", AVOIDED, T0 + timedelta(days=1))]        # closed at the window's end: the same on every replay
        assert w.of("cust-1") == [late]


def _tx(day: int, balance: int) -> TxFacts:
    return TxFacts(id=f"t{day}", customer_id="cust-1", timestamp=T0 + timedelta(days=day), amount_minor=100,
                   currency="GBP", is_credit=False, channel="CARD", payee_key="", payee_name="", mcc="",
                   merchant_country="GB", card_token="", balance_after_minor=balance, returned=False)


@pytest.mark.parametrize(("before", "balances", "expected"), [
    # payday is day 6: the window runs to its start
    ("kept above zero to payday", [(2, 500), (5, 10), (7, 900)], [("n-1", AVOIDED, T0.replace(hour=0) +
                                                                   timedelta(days=6))]),
    ("went below zero before payday", [(2, 500), (4, -300)], [("n-1", HAPPENED, T0 + timedelta(days=4))]),
    ("overdrawn after payday only", [(5, 200), (7, -50)], [("n-1", AVOIDED, T0.replace(hour=0) + timedelta(days=6))]),
    ("no transaction since", [], []),
])
def test_advice_shortfall_warning(store: Store, before: str, balances: list[tuple[int, int]],
                                  expected: list[tuple[str, int, datetime]]) -> None:
    data = {"payday": (T0 + timedelta(days=6)).date().isoformat(),
            "negative_day": (T0 + timedelta(days=4)).date().isoformat()}
    state = CustomerState(customer_id="cust-1", balance_minor=800)
    with store.transaction() as tx:
        w = watch(tx)
        w.open(advice.shortfall_follow_up("n-1", "cust-1", T0, data))
        outputs = []
        for day, balance in balances:
            previous, state.balance_minor = state.balance_minor, balance
            outputs += advice.follow_up(w, state, _tx(day, balance), previous)
        assert closed(outputs) == expected, before


def test_advice_a_warning_given_while_overdrawn_watches_the_overdraft_after_pay(store: Store) -> None:
    """Overdrawn when warned of going below zero again after pay: staying overdrawn until pay is not it."""
    data = {"payday": (T0 + timedelta(days=2)).date().isoformat(),
            "negative_day": (T0 + timedelta(days=5)).date().isoformat()}
    state = CustomerState(customer_id="cust-1", balance_minor=-200)
    with store.transaction() as tx:
        w = watch(tx)
        w.open(advice.shortfall_follow_up("n-1", "cust-1", T0, data))
        outputs = []
        for day, balance in [(1, -250), (2, 900), (5, -20)]:
            previous, state.balance_minor = state.balance_minor, balance
            outputs += advice.follow_up(w, state, _tx(day, balance), previous)
        assert closed(outputs) == [("n-1", HAPPENED, T0 + timedelta(days=5))]


@pytest.mark.parametrize(("case", "paid_on", "returned", "outcome"), [
    ("paid on the due date", date(2026, 3, 10), [], AVOIDED),
    ("paid late, inside the grace", date(2026, 3, 14), [], AVOIDED),
    ("never paid", None, [], HAPPENED),
    ("paid, then the debit came back", date(2026, 3, 10), [date(2026, 3, 12)], HAPPENED),
    ("only last month's payment", date(2026, 2, 10), [], HAPPENED),
])
def test_mortgage_care_offer(store: Store, case: str, paid_on: date | None, returned: list[date],
                             outcome: int) -> None:
    due = date(2026, 3, 10)
    activity = act.Activity(mortgage_paid_on=paid_on, mortgage_returned=returned)
    with store.transaction() as tx:
        w = watch(tx)
        w.open(mortgage.care_follow_up("o-1", "cust-1", T0, due))
        end = datetime(2026, 3, 15, tzinfo=UTC)              # due + 5 days of grace
        assert mortgage.follow_up(w, "cust-1", activity, end) == [], case   # not past the window yet
        assert closed(mortgage.follow_up(w, "cust-1", activity, end + timedelta(hours=1))) == [
            ("o-1", outcome, end)], case


def _feedback(tx_id: str, card: str, fraud_: bool, at: datetime, alert_id: str = "") -> events_pb2.FraudFeedback:
    fb = events_pb2.FraudFeedback(alert_id=alert_id, transaction_id=tx_id, customer_id="cust-1", card_token=card,
                                  confirmed_fraud=fraud_)
    fb.transaction_time.FromDatetime(at)
    fb.answered_at.FromDatetime(at + timedelta(hours=1))
    return fb


@pytest.mark.parametrize(("case", "feedback", "expected"), [
    ("fraud later on the same card", _feedback("t9", "card-A", True, T0 + timedelta(days=3)),
     [("fa-t1", HAPPENED, T0 + timedelta(days=3))]),
    ("the customer: 'it was me'", _feedback("t1", "card-A", False, T0, alert_id="fa-t1"),
     [("fa-t1", NOT_APPLICABLE, T0 + timedelta(hours=1))]),
    ("'not me' on the alerted payment itself", _feedback("t1", "card-A", True, T0, alert_id="fa-t1"), []),
    ("fraud on another card", _feedback("t9", "card-B", True, T0 + timedelta(days=3)), []),
    ("fraud after the window", _feedback("t9", "card-A", True, T0 + timedelta(days=31)), []),
    ("fraud before the alert", _feedback("t0", "card-A", True, T0 - timedelta(days=1)), []),
])
def test_fraud_alert(store: Store, case: str, feedback: events_pb2.FraudFeedback,
                     expected: list[tuple[str, int, datetime]]) -> None:
    with store.transaction() as tx:
        w = watch(tx)
        w.open(FollowUp("fa-t1", "cust-1", followups.FRAUD_ALERT, T0, T0 + fraud.FOLLOW_UP_WINDOW, subject="card-A"))
        assert closed(fraud.follow_up(w, feedback)) == expected, case


def test_advice_a_warning_to_a_customer_on_irregular_income_is_watched_to_the_day_after_the_overdraft(
        store: Store) -> None:
    """Gig income has no payday (the warning's `payday` is empty): watched until the day after the foreseen one."""
    data = {"payday": "", "negative_day": (T0 + timedelta(days=3)).date().isoformat()}
    state = CustomerState(customer_id="cust-1", balance_minor=300)
    with store.transaction() as tx:
        w = watch(tx)
        w.open(advice.shortfall_follow_up("n-1", "cust-1", T0, data))
        outputs = []
        for day, balance in [(2, 150), (5, 40)]:
            previous, state.balance_minor = state.balance_minor, balance
            outputs += advice.follow_up(w, state, _tx(day, balance), previous)
        assert closed(outputs) == [("n-1", AVOIDED, T0.replace(hour=0) + timedelta(days=4))]
