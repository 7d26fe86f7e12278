"""SPENDING_SPIKE: month-to-date spending in a category well above the customer's own usual month."""

from __future__ import annotations

from services.advice.policy import RuleConfig
from services.advice.rules.base import Candidate, Reason, RuleContext, meets, percent_of

SPENDING_SPIKE = "SPENDING_SPIKE"


def _previous_months(year: int, month: int, count: int) -> list[str]:
    months = []
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(f"{year:04d}-{month:02d}")
    return months


def spending_spike(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    if not ctx.observation.discretionary or ctx.state.first_seen is None:
        return []
    category = ctx.observation.category
    months = ctx.state.category_months.get(category, {})
    this_month = ctx.today.strftime("%Y-%m")
    first_full = ctx.state.first_seen.strftime("%Y-%m")  # the first month is partial: not a norm
    history = [m for m in _previous_months(ctx.today.year, ctx.today.month,
                                           ctx.policy.spending.category_history_months) if m > first_full]
    if len(history) < ctx.policy.spending.category_min_history_months:
        return []
    usual = sum(months.get(m, 0) for m in history) // len(history)
    so_far = months.get(this_month, 0)
    excess = so_far - usual
    if usual <= 0 or not meets(rule, excess, percent_of(excess, usual)):
        return []
    pct = percent_of(excess, usual)
    month_name = ctx.today.strftime("%B")
    return [Candidate(
        type=SPENDING_SPIKE, subject=f"{category}|{this_month}",
        title=f"{category.capitalize()} spending is up {pct:.0f}% this month",
        body=(f"You've spent {ctx.money(so_far)} on {category} so far in {month_name}, {ctx.money(excess)} "
              f"more than your usual {ctx.money(usual)} a month."),
        reasons=(Reason("ABOVE_OWN_NORM",
                        f"{ctx.money(so_far)} vs a usual {ctx.money(usual)} over the last {len(history)} months "
                        f"(+{pct:.0f}%).", 1.0),),
        data={"category": category, "month_to_date_minor": str(so_far), "usual_minor": str(usual),
              "excess_minor": str(excess), "currency": ctx.currency},
        value_minor=excess,
    )]
