"""Test builders: a customer's account timeline producing TxFacts with a running balance."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from services.advice.engine import Evaluation, evaluate
from services.advice.facts import ProfileFacts, TxFacts
from services.advice.policy import Policy, policy_book
from services.advice.state import CustomerState

START = date(2026, 1, 1)


def policy() -> Policy:
    return policy_book().at(datetime(2026, 6, 1, tzinfo=UTC))


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


@dataclass
class Account:
    """Feeds transactions through `evaluate` and keeps every evaluation."""

    customer_id: str = "c-1"
    balance: int = 150_000
    currency: str = "GBP"
    state: CustomerState = field(init=False)
    policy: Policy = field(default_factory=policy)
    evaluations: list[Evaluation] = field(default_factory=list)
    _seq: int = 0

    def __post_init__(self) -> None:
        self.state = CustomerState(self.customer_id)

    def profile(self, **kwargs: object) -> None:
        self.state.apply_profile(ProfileFacts(self.customer_id, currency=self.currency, **kwargs))  # type: ignore[arg-type]

    def tx(self, when: datetime, amount: int, *, credit: bool = False, channel: str = "CARD_PRESENT",
           payee: str = "", name: str = "", mcc: str = "5411", card: str = "tok-1", description: str = "",
           returned: bool = False) -> Evaluation:
        self._seq += 1
        if not returned:
            self.balance += amount if credit else -amount
        facts = TxFacts(
            id=f"tx-{self._seq}", customer_id=self.customer_id, timestamp=when, amount_minor=amount,
            currency=self.currency, is_credit=credit, channel=channel, payee_key=payee, payee_name=name or payee,
            mcc=mcc, merchant_country="GB", card_token=card, balance_after_minor=self.balance, returned=returned,
            description=description,
        )
        result = evaluate(self.state, facts, self.policy)
        self.evaluations.append(result)
        return result

    def salary(self, day: date, amount: int = 250_000) -> Evaluation:
        return self.tx(at(day, 6), amount, credit=True, channel="SALARY", payee="acme-payroll", name="ACME Ltd")

    def nudges(self, nudge_type: str | None = None) -> list:
        return [c for e in self.evaluations for c in e.candidates if nudge_type is None or c.type == nudge_type]


def months(start: date, count: int, day: int) -> list[date]:
    out = []
    year, month = start.year, start.month
    for _ in range(count):
        out.append(date(year, month, day))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def with_policy_rule(p: Policy, nudge_type: str, **changes: object) -> Policy:
    rules = dict(p.rules)
    rules[nudge_type] = replace(rules[nudge_type], **changes)  # type: ignore[arg-type]
    return replace(p, rules=rules)


def daily(start: date, days: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(days)]
