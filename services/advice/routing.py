"""Which cases go to a human advisor: large idle cash (wealth), repeated shortfalls and signs of payment
difficulty (financial support). Pure: returns task drafts; the worker turns them into AdvisorTask events.

A task id is derived from the customer, the kind and the policy window the case falls in, so the same case
re-detected within its window never makes a second task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.advice import recurring
from services.advice.engine import Evaluation
from services.advice.policy import Policy
from services.advice.rules import Reason
from services.advice.state import CustomerState
from services.platform.money import format_money

IDLE_CASH = "IDLE_CASH"
REPEATED_SHORTFALL = "REPEATED_SHORTFALL"
PAYMENT_DIFFICULTY = "PAYMENT_DIFFICULTY"


@dataclass(frozen=True)
class TaskDraft:
    id: str
    customer_id: str
    queue: str
    kind: str
    value_minor: int
    currency: str
    urgency: float
    sla_deadline: datetime
    created_at: datetime
    summary: str
    reasons: tuple[Reason, ...]


def task_id(customer_id: str, kind: str, bucket: str) -> str:
    return "task-" + hashlib.sha256(f"{customer_id}|{kind}|{bucket}".encode()).hexdigest()[:24]


def route(state: CustomerState, evaluation: Evaluation, policy: Policy) -> list[TaskDraft]:
    now = evaluation.observation.tx.timestamp
    today = evaluation.observation.today
    currency = state.currency
    drafts: list[TaskDraft] = []
    by_type = {c.type: c for c in evaluation.candidates}

    def draft(kind: str, window_days: int, value: int, summary: str, reasons: tuple[Reason, ...]) -> TaskDraft:
        cfg = policy.routing[kind]
        bucket = str(today.toordinal() // max(1, window_days))
        return TaskDraft(task_id(state.customer_id, kind, bucket), state.customer_id, cfg.queue, kind, value,
                         currency, cfg.urgency, now + timedelta(hours=cfg.sla_hours), now, summary, reasons)

    idle_cfg = policy.routing.get(IDLE_CASH)
    idle = by_type.get("IDLE_CASH")
    if idle_cfg and idle and int(idle.data["idle_minor"]) >= int(idle_cfg.params.get("min_idle_minor", 0)):
        amount = int(idle.data["idle_minor"])
        drafts.append(draft(IDLE_CASH, 30, amount,
                            f"{format_money(amount, currency)} idle above a buffer for 30 days: savings or "
                            f"investment conversation.", idle.reasons))

    short_cfg = policy.routing.get(REPEATED_SHORTFALL)
    if short_cfg and "PROJECTED_SHORTFALL" in by_type:
        window = int(short_cfg.params.get("window_days", 90))
        recent = _within(state.shortfall_days, today, window)
        if recent >= int(short_cfg.params.get("min_shortfalls", 2)):
            nudge = by_type["PROJECTED_SHORTFALL"]
            amount = int(nudge.data["shortfall_minor"])
            drafts.append(draft(REPEATED_SHORTFALL, window, amount,
                                f"{recent} projected shortfalls in {window} days; latest "
                                f"{format_money(amount, currency)}. Budgeting or a better-fitting product.",
                                (Reason("REPEATED_SHORTFALL", f"{recent} shortfall warnings in {window} days.", 1.0),
                                 *nudge.reasons[:1])))

    hard_cfg = policy.routing.get(PAYMENT_DIFFICULTY)
    if hard_cfg:
        window = int(hard_cfg.params.get("window_days", 60))
        returned = _within(state.returned_payments, today, window)
        stopped = [s for s in evaluation.observation.ended_series if s.kind == recurring.SALARY]
        signs: list[Reason] = []
        if evaluation.observation.tx.returned and returned >= int(hard_cfg.params.get("min_returned_payments", 2)):
            signs.append(Reason("RETURNED_PAYMENTS", f"{returned} payments bounced in {window} days.", 1.0))
        if stopped:
            signs.append(Reason("SALARY_STOPPED",
                                f"Salary from {stopped[0].name} missed twice (last paid "
                                f"{stopped[0].occurrences[-1].day.isoformat()}).", 1.0))
        if signs:
            value = state.monthly_outgoings_minor(today, policy.spending.discretionary_window_days)
            drafts.append(draft(PAYMENT_DIFFICULTY, window, value,
                                "Signs of payment difficulty: " + " ".join(r.text for r in signs)
                                + " Offer support before a missed payment.", tuple(signs)))
    return drafts


def _within(days: list[str], today: date, window_days: int) -> int:
    start = today - timedelta(days=window_days)
    return sum(1 for d in days if date.fromisoformat(d) > start)
