"""Rules about regular payments: SUBSCRIPTION_PRICE_INCREASE, NEW_SUBSCRIPTION, INCOME_LATE."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from services.advice import recurring
from services.advice.policy import RuleConfig
from services.advice.rules.base import Candidate, Reason, RuleContext, day_text, days_text, meets, percent_of

PRICE_INCREASE = "SUBSCRIPTION_PRICE_INCREASE"
NEW_SUBSCRIPTION = "NEW_SUBSCRIPTION"
INCOME_LATE = "INCOME_LATE"
FIXED = "FIXED"
VARIABLE = "VARIABLE"
VARIABLE_MIN_HISTORY = 4  # payments before a variable bill has a usual range
_PER_YEAR = {recurring.WEEKLY: 52, recurring.FORTNIGHTLY: 26, recurring.MONTHLY: 12}


def bill_kind(amounts: list[int]) -> str:
    """FIXED when a payment repeats its amount (a price that steps up now and then), VARIABLE when it changes
    from payment to payment (energy, phone usage, a card repayment), "" with too few payments to tell."""
    if len(amounts) < 3:
        return FIXED if len(amounts) == 2 and amounts[0] == amounts[1] else ""
    changes = sum(abs(b - a) * 100 > max(a, 1) for a, b in pairwise(amounts))
    return VARIABLE if changes >= 2 and len(set(amounts)) >= 3 else FIXED


def price_increase(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    event = ctx.observation.series_event
    if event is None or event.kind == "DETECTED" or event.previous_amount_minor is None:
        return []
    series = event.series
    if series.is_credit or series.kind not in (recurring.SUBSCRIPTION, recurring.BILL):
        return []
    prior = [o.amount_minor for o in series.occurrences[:-1]]
    kind = bill_kind(prior)
    if kind == VARIABLE:
        return _above_usual_range(ctx, rule, series, prior)
    if kind == "" and len(prior) >= 2:
        return []  # two different amounts: too early to tell a price change from a varying bill
    old, new = event.previous_amount_minor, ctx.tx.amount_minor
    increase = new - old
    if increase <= 0 or not meets(rule, increase, percent_of(increase, old)):
        return []
    pct = percent_of(increase, old)
    yearly = increase * _PER_YEAR[series.period]
    what = "subscription" if series.kind == recurring.SUBSCRIPTION else "bill"
    return [Candidate(
        type=PRICE_INCREASE, subject=series.key,
        title=f"{series.name} went up from {ctx.money(old)} to {ctx.money(new)}",
        body=(f"Your {what} {series.name} charged {ctx.money(new)}, up from {ctx.money(old)} "
              f"(+{ctx.money(increase)}, +{pct:.0f}%). That's {ctx.money(yearly)} more a year. "
              f"Check you still want it or look for a cheaper plan."),
        reasons=(
            Reason("PRICE_INCREASE", f"{ctx.money(old)} -> {ctx.money(new)} (+{pct:.0f}%).", 1.0),
            Reason("YEARLY_IMPACT", f"{ctx.money(yearly)} more a year.", 0.5),
        ),
        data={"old_amount_minor": str(old), "new_amount_minor": str(new), "increase_minor": str(increase),
              "yearly_increase_minor": str(yearly), "currency": ctx.currency, "payee": series.name,
              "series_key": series.key, "bill_kind": FIXED},
        value_minor=yearly,
    )]


def _above_usual_range(ctx: RuleContext, rule: RuleConfig, series: recurring.Series,
                       prior: list[int]) -> list[Candidate]:
    """A variable bill judged against its usual range: only an amount above everything it charged before, by
    the rule's thresholds, and worded as such (no "price rise", no yearly figure it cannot know)."""
    low, high, new = min(prior), max(prior), ctx.tx.amount_minor
    above = new - high
    if len(prior) < VARIABLE_MIN_HISTORY or above * 4 < high - low \
            or not meets(rule, above, percent_of(above, high)):
        return []  # too little history for a range, or within a quarter of the range's own width of it
    usual = f"{ctx.money(low)}-{ctx.money(high)}"
    return [Candidate(
        type=PRICE_INCREASE, subject=series.key,
        title=f"{series.name} is higher than usual: {ctx.money(new)}",
        body=(f"Your bill {series.name} charged {ctx.money(new)}, higher than your usual {usual}. "
              f"It's worth checking the bill or your usage, or comparing deals."),
        reasons=(Reason("ABOVE_USUAL_RANGE", f"{ctx.money(new)} against a usual {usual} "
                                             f"({len(prior)} payments).", 1.0),),
        data={"old_amount_minor": str(high), "new_amount_minor": str(new), "increase_minor": str(above),
              "usual_low_minor": str(low), "usual_high_minor": str(high), "currency": ctx.currency,
              "payee": series.name, "series_key": series.key, "bill_kind": VARIABLE},
        value_minor=above,
    )]


def new_subscription(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    event = ctx.observation.series_event
    if event is None or event.kind != "MATURED" or event.series.kind != recurring.SUBSCRIPTION:
        return []
    series = event.series
    first_seen = ctx.state.first_seen
    warmup = timedelta(days=int(rule.params.get("warmup_days", 45)))
    if first_seen is None or series.first_day is None or series.first_day < first_seen.date() + warmup:
        return []  # it was running before we could see it start: not new
    amount = series.last_amount_minor
    if not meets(rule, amount, percent_of(amount, ctx.state.monthly_income_minor())):
        return []
    yearly = amount * _PER_YEAR[series.period]
    return [Candidate(
        type=NEW_SUBSCRIPTION, subject=series.key,
        title=f"New subscription: {series.name} {ctx.money(amount)}",
        body=(f"{series.name} has charged you {series.matched_total} times since {day_text(series.first_day)}, "
              f"most recently {ctx.money(amount)}. That's {ctx.money(yearly)} a year; next payment around "
              f"{day_text(series.next_due)}."),
        reasons=(
            Reason("NEW_RECURRING_PAYMENT",
                   f"{series.matched_total} {series.period.lower()} payments to {series.name}.", 1.0),
            Reason("YEARLY_COST", f"{ctx.money(yearly)} a year.", 0.5),
        ),
        data={"amount_minor": str(amount), "yearly_minor": str(yearly), "currency": ctx.currency,
              "payee": series.name, "next_due": series.next_due.isoformat(), "series_key": series.key},
        value_minor=yearly,
    )]


def income_late(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    late_days = int(rule.params.get("late_days", 3))
    income = ctx.state.monthly_income_minor()
    found: list[Candidate] = []
    for series in ctx.state.active_series(recurring.SALARY, recurring.INCOME):
        if series.status != recurring.MATURE:
            continue
        model = recurring.income_model(series)
        due = series.next_due
        if model is not None and model.trusted:
            late_from = model.late_from(late_days - 1)   # judged on the income model: rhythm, weekend shift
            if late_from is None or ctx.today < late_from:
                continue                                 # irregular income is never "late"
            due = model.nominal or due
        elif series.days_overdue(ctx.today) < late_days:
            continue
        overdue = (ctx.today - due).days
        expected = series.typical_amount_minor
        if not meets(rule, expected, percent_of(expected, income)):
            continue
        what = "salary" if series.kind == recurring.SALARY else "regular income"
        found.append(Candidate(
            type=INCOME_LATE, subject=f"{series.key}|{due.isoformat()}",
            title=f"Your {what} from {series.name} hasn't arrived",
            body=(f"We expected about {ctx.money(expected)} from {series.name} on {day_text(due)}, "
                  f"{days_text(overdue)} ago. If something has changed, we can help you plan the weeks ahead."),
            reasons=(Reason("INCOME_LATE", f"{days_text(overdue)} late; usually {ctx.money(expected)}.", 1.0),),
            data={"expected_minor": str(expected), "expected_day": due.isoformat(),
                  "days_late": str(overdue), "currency": ctx.currency, "payer": series.name},
            value_minor=expected,
        ))
    return found
