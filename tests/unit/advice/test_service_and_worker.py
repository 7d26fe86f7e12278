from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry

from services.advice.metrics import AdviceMetrics
from services.advice.policy import policy_book
from services.advice.repository import MIGRATIONS, AdviceRepository
from services.advice.service import AdviceServicer
from services.advice.worker import AdviceHandler
from services.gen.proactivecare.v1 import advice_pb2, common_pb2, events_pb2
from services.platform import auth
from services.platform.errors import NotFoundError, PermissionDeniedError, ValidationError
from services.platform.runner import Record
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.validation import validate_notification
from tests.stores import EachCallInItsTransaction


def transaction(tx_id: str, when: datetime, amount: int, balance: int, *,
                channel: int = events_pb2.CHANNEL_DIRECT_DEBIT,
                counterparty: str = "cp_streamflix", description: str = "StreamFlix monthly",
                customer: str = "c-1") -> events_pb2.Transaction:
    return events_pb2.Transaction(
        id=tx_id, customer_id=customer, account_id="acc-1", timestamp=Timestamp(seconds=int(when.timestamp())),
        amount=common_pb2.Money(amount_minor=amount, currency="GBP"), direction=events_pb2.DIRECTION_DEBIT,
        channel=channel,
        balance_after=common_pb2.Money(amount_minor=balance, currency="GBP"), counterparty_id=counterparty,
        description=description,
    )


class Harness:
    def __init__(self, store: Store) -> None:
        self.settings = Settings(topic_prefix="t.")
        self.store = store
        store.migrate(MIGRATIONS)
        self.repo = EachCallInItsTransaction(store, AdviceRepository)
        self.metrics = AdviceMetrics.create(CollectorRegistry())
        self.handler = AdviceHandler(self.settings, policy_book(), self.metrics)
        self.offset = 0

    def feed(self, *messages: Any) -> dict[str, list[Any]]:
        records = []
        for m in messages:
            self.offset += 1
            topic = "t.customers" if isinstance(m, events_pb2.CustomerProfile) else "t.transactions"
            records.append(Record(topic, 0, self.offset, m.customer_id, getattr(m, "id", "") or f"p{self.offset}",
                                  m, 1000))
        with self.store.transaction() as tx:
            return {k: list(v) for k, v in self.handler.handle(records, tx).items()}


@pytest.fixture
def harness(open_store: Callable[[str], Store]) -> Harness:
    return Harness(open_store("advice"))


def price_rise(h: Harness) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for i, (amount, day) in enumerate([(1099, date(2026, 1, 5)), (1099, date(2026, 2, 5)), (1099, date(2026, 3, 5)),
                                       (1299, date(2026, 4, 5))]):
        when = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
        out.update(h.feed(transaction(f"bk_{i}", when, amount, 150_000 - i * 1500)))
    return out


def test_a_sent_nudge_becomes_a_notification_whose_id_derives_from_the_nudge(harness: Harness) -> None:
    outputs = price_rise(harness)
    assert list(outputs) == ["bk_3"]
    [output] = outputs["bk_3"]
    assert output.topic == "t.notifications" and output.key == "c-1"
    notification = events_pb2.Notification.FromString(output.value)
    [nudge] = harness.repo.list_nudges("c-1", 0, 10)
    assert notification.id == f"advice:{nudge.id}" and notification.source_id == nudge.id
    assert notification.kind == events_pb2.NOTIFICATION_KIND_NUDGE and notification.source == "advice"
    assert notification.data["old_amount_minor"] == "1099" and notification.data["new_amount_minor"] == "1299"
    assert "£10.99" in notification.body and "£12.99" in notification.body
    assert notification.origin_produced_at_ms == 1000
    assert nudge.sent and nudge.type == "SUBSCRIPTION_PRICE_INCREASE"
    validate_notification(notification)  # what the notification gateway accepts


def test_the_customer_state_is_stored_between_batches(harness: Harness) -> None:
    price_rise(harness)
    with harness.store.transaction() as tx:
        state = AdviceRepository(tx).load_state("c-1")
    assert state.series["D:cp_streamflix"].last_amount_minor == 1299


@pytest.fixture
def principal() -> Iterator[Any]:
    tokens = []

    def login(subject: str, role: auth.Role = auth.Role.CUSTOMER) -> None:
        tokens.append(auth.set_principal(auth.Principal(subject, role)))

    yield login
    for t in reversed(tokens):
        auth.reset_principal(t)


def servicer(h: Harness, now: datetime = datetime(2026, 4, 6, tzinfo=UTC)) -> AdviceServicer:
    return AdviceServicer(h.store, policy_book(), h.metrics, clock=lambda: now)


def test_list_nudges_is_only_for_the_customer_themselves(harness: Harness, principal: Any) -> None:
    price_rise(harness)
    principal("c-2")
    with pytest.raises(PermissionDeniedError):
        asyncio.run(servicer(harness).ListNudges(advice_pb2.ListNudgesRequest(customer_id="c-1"), None))
    principal("c-1")
    reply = asyncio.run(servicer(harness).ListNudges(advice_pb2.ListNudgesRequest(customer_id="c-1"), None))
    assert [n.type for n in reply.nudges] == ["SUBSCRIPTION_PRICE_INCREASE"]


def test_responding_trains_the_bandit_once_and_records_the_answer(harness: Harness, principal: Any) -> None:
    price_rise(harness)
    [nudge] = harness.repo.list_nudges("c-1", 0, 10)
    principal("c-1")
    s = servicer(harness)
    request = advice_pb2.RespondToNudgeRequest(nudge_id=nudge.id, response=advice_pb2.NUDGE_RESPONSE_NOT_HELPFUL)
    answered = asyncio.run(s.RespondToNudge(request, None)).nudge
    assert answered.response == advice_pb2.NUDGE_RESPONSE_NOT_HELPFUL
    asyncio.run(s.RespondToNudge(request, None))  # a retried call does not count twice
    bandit = harness.repo.load_bandit(policy_book().at(datetime.now(UTC)).ranking)
    assert bandit.observations("SUBSCRIPTION_PRICE_INCREASE") == 1
    assert harness.repo.list_nudges("c-1", 0, 10)[0].response == advice_pb2.NUDGE_RESPONSE_NOT_HELPFUL
    principal("c-2")  # another customer's nudge is answered as a missing one (ids cannot be probed)
    with pytest.raises(NotFoundError, match="no such nudge"):
        asyncio.run(s.RespondToNudge(request, None))


def test_answering_an_unknown_nudge_is_not_found(harness: Harness, principal: Any) -> None:
    principal("c-1")
    with pytest.raises(NotFoundError):
        asyncio.run(servicer(harness).RespondToNudge(
            advice_pb2.RespondToNudgeRequest(nudge_id="nudge-nope", response=advice_pb2.NUDGE_RESPONSE_HELPFUL), None))


BAD_REQUESTS = [
    ("ListNudges", advice_pb2.ListNudgesRequest(customer_id=""), "customer_id"),
    ("ListNudges", advice_pb2.ListNudgesRequest(customer_id="x" * 129), "customer_id"),
    ("ListNudges", advice_pb2.ListNudgesRequest(customer_id="c-1", page=common_pb2.PageRequest(page_size=501)),
     "page.page_size"),
    ("ListNudges", advice_pb2.ListNudgesRequest(customer_id="c-1", page=common_pb2.PageRequest(page_size=-1)),
     "page.page_size"),
    ("ListNudges", advice_pb2.ListNudgesRequest(customer_id="c-1", page=common_pb2.PageRequest(page_token="@@")),
     "page.page_token"),
    ("RespondToNudge", advice_pb2.RespondToNudgeRequest(nudge_id="", response=advice_pb2.NUDGE_RESPONSE_HELPFUL),
     "nudge_id"),
    ("RespondToNudge", advice_pb2.RespondToNudgeRequest(nudge_id="n-1"), "response"),
    ("RespondToNudge", advice_pb2.RespondToNudgeRequest(nudge_id="n-1", response=42), "response"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("method", "request_message", "field"), BAD_REQUESTS)
def test_bad_requests_name_the_field(harness: Harness, principal: Any, method: str, request_message: Any,
                                     field: str) -> None:
    principal("c-1")
    with pytest.raises(ValidationError) as raised:
        asyncio.run(getattr(servicer(harness), method)(request_message, None))
    assert raised.value.field == field


def test_repeated_shortfalls_are_routed_to_an_advisor_queue(harness: Harness) -> None:
    """Two projected shortfalls inside the routing window make one financial-support task."""
    profile = events_pb2.CustomerProfile(customer_id="c-1", payday=25, segment="mass",
                                         monthly_income=common_pb2.Money(amount_minor=200_000, currency="GBP"))
    profile.products.add(id="acc-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT)
    harness.feed(profile)
    balance, tasks = 40_000, []
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for n in range(100):
        when = start + timedelta(days=n)
        if when.day == 25:
            balance += 200_000
            salary = transaction(f"s{n}", when - timedelta(hours=6), 200_000, balance,
                                 channel=events_pb2.CHANNEL_SALARY,
                                 counterparty="cp_employer", description="Salary")
            salary.direction = events_pb2.DIRECTION_CREDIT
            out = harness.feed(salary)
            tasks += [o for outs in out.values() for o in outs if o.topic == "t.advisor-tasks"]
        balance -= 8_000  # spending 2,400.00 a month on 2,000.00 of pay: short every month
        out = harness.feed(transaction(f"t{n}", when, 8_000, balance, channel=events_pb2.CHANNEL_CARD_PRESENT,
                                       counterparty="", description="Shop"))
        tasks += [o for outs in out.values() for o in outs if o.topic == "t.advisor-tasks"]
    kinds = [events_pb2.AdvisorTask.FromString(t.value) for t in tasks]
    # one task per routing window (90 days, fixed buckets): 100 days reach into a second one
    assert {t.kind for t in kinds} == {"REPEATED_SHORTFALL"} and 1 <= len({t.id for t in kinds}) <= 2
    windows = [(t.created_at.ToDatetime().date().toordinal() // 90, t.id) for t in kinds]
    assert len({w for w, _ in windows}) == len({i for _, i in windows})  # one task id per window
    assert kinds[0].queue == "financial-support" and kinds[0].value.amount_minor > 0
    assert kinds[0].sla_deadline.ToDatetime() > kinds[0].created_at.ToDatetime()


def test_an_unreadable_stored_state_starts_afresh_instead_of_failing_every_transaction(harness: Harness) -> None:
    with harness.store.transaction() as tx:
        tx.execute("INSERT INTO advice_customer_state (customer_id, state, updated_at) VALUES ('c-1', :state, :at)",
                   {"state": '{"schema": 0}', "at": datetime.now(UTC)})
    price_rise(harness)
    with harness.store.transaction() as tx:
        assert AdviceRepository(tx).load_state("c-1").series["D:cp_streamflix"].matched_total == 4


# ---- a transaction that arrives before its customer's profile --------------------------------------------------

def _profile() -> events_pb2.CustomerProfile:
    profile = events_pb2.CustomerProfile(customer_id="c-1", payday=25, segment="mass",
                                         monthly_income=common_pb2.Money(amount_minor=200_000, currency="GBP"))
    profile.products.add(id="acc-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT)
    profile.products.add(id="sav-1", type=events_pb2.PRODUCT_TYPE_SAVINGS,
                         balance=common_pb2.Money(amount_minor=900_000, currency="GBP"))
    return profile


def _history() -> list[events_pb2.Transaction]:
    """100 days: the savings account's row comes first (a customer's first row is not always the current
    account's), then pay on the 25th and spending that outruns it, so shortfall nudges follow."""
    saving = transaction("sv0", datetime(2026, 1, 1, 1, tzinfo=UTC), 30_000, 870_000,
                         channel=events_pb2.CHANNEL_TRANSFER_OUT, counterparty="cp_own",
                         description="To current account")
    saving.account_id = "sav-1"
    rows, balance = [saving], 40_000
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for n in range(100):
        when = start + timedelta(days=n)
        if when.day == 25:
            balance += 200_000
            salary = transaction(f"s{n}", when - timedelta(hours=6), 200_000, balance,
                                 channel=events_pb2.CHANNEL_SALARY, counterparty="cp_employer", description="Salary")
            salary.direction = events_pb2.DIRECTION_CREDIT
            rows.append(salary)
        balance -= 8_000
        rows.append(transaction(f"t{n}", when, 8_000, balance, channel=events_pb2.CHANNEL_CARD_PRESENT, counterparty="",
                                description="Shop"))
    return rows


def _replay(h: Harness, profile_after: int | None, batch: int = 7) -> tuple[list[tuple[str, bytes]], dict[str, Any]]:
    """Feed the history in batches with the profile after `profile_after` transactions (None: never); return
    every output (topic, value) in order and the stored state."""
    messages: list[Any] = list(_history())
    if profile_after is not None:
        messages.insert(profile_after, _profile())
    sent: list[tuple[str, bytes]] = []
    for i in range(0, len(messages), batch):
        for outs in h.feed(*messages[i:i + batch]).values():
            sent += [(o.topic, o.value) for o in outs]
    with h.store.transaction() as tx:
        state = AdviceRepository(tx).load_state("c-1").to_dict()
    return sent, state


@pytest.mark.parametrize("profile_after", [1, 4, 9, 12])
def test_transactions_before_the_profile_decide_as_if_the_profile_came_first(
        open_store: Callable[[str], Store], profile_after: int) -> None:
    first, first_state = _replay(Harness(open_store("first")), profile_after=0)
    late, late_state = _replay(Harness(open_store("late")), profile_after=profile_after)
    assert any(topic == "t.notifications" for topic, _ in first)   # the history does make the service speak
    assert late == first
    assert late_state == first_state
    assert first_state["current_account_id"] == "acc-1" and first_state["held"] == []


def test_held_transactions_are_kept_in_the_stored_state_until_the_profile_arrives(harness: Harness) -> None:
    rows = _history()[:6]
    assert harness.feed(*rows[:3]) == {} and harness.feed(*rows[3:]) == {}
    with harness.store.transaction() as tx:
        state = AdviceRepository(tx).load_state("c-1")
    assert [t.id for t in state.held] == [r.id for r in rows]
    assert state.balance_minor is None and state.current_account_id == ""   # nothing folded yet
    harness.feed(_profile())
    with harness.store.transaction() as tx:
        state = AdviceRepository(tx).load_state("c-1")
    assert state.held == [] and state.current_account_id == "acc-1"
    assert state.savings_minor() == 870_000   # the savings row updated savings, not the current balance
    assert state.balance_minor == rows[-1].balance_after.amount_minor


def test_without_a_profile_the_wait_ends_after_its_days_and_decides_the_same_every_time(
        open_store: Callable[[str], Store]) -> None:
    once, once_state = _replay(Harness(open_store("once")), profile_after=None, batch=5)
    again, again_state = _replay(Harness(open_store("again")), profile_after=None, batch=11)
    assert once == again and once_state == again_state
    assert once_state["held"] == [] and once_state["profile_wait_over"] is True
    # the current account is the one the salary is paid into, not the savings account seen first
    assert once_state["current_account_id"] == "acc-1"
