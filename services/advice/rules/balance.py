"""Rules about the balance as it is: LOW_BALANCE (low or overdrawn now) and IDLE_CASH (money sitting above a
buffer that could earn interest in savings)."""

from __future__ import annotations

from datetime import date, timedelta

from services.advice.policy import RuleConfig
from services.advice.rules.base import Candidate, Reason, RuleContext, day_text, meets, percent_of

LOW_BALANCE = "LOW_BALANCE"
IDLE_CASH = "IDLE_CASH"


def low_balance(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    balance = ctx.state.balance_minor
    if balance is None or ctx.tx.is_credit or balance >= rule.min_amount_minor:
        return []
    income = ctx.state.monthly_income_minor()
    # The percent threshold: the balance is below that share of the usual monthly income.
    if income > 0 and percent_of(balance, income) >= rule.min_percent:
        return []
    overdrawn = balance < 0
    code, title = (("IN_OVERDRAFT", f"You're {ctx.money(-balance)} overdrawn") if overdrawn
                   else ("BALANCE_BELOW_THRESHOLD", f"Your balance is down to {ctx.money(balance)}"))
    reasons = [Reason(code, f"Your balance is {ctx.money(balance)}, below {ctx.money(rule.min_amount_minor)}.", 1.0)]
    if income > 0:
        reasons.append(Reason("SHARE_OF_INCOME",
                              f"That is under {rule.min_percent:.0f}% of your usual monthly income of "
                              f"{ctx.money(income)}.", 0.3))
    savings = ctx.state.savings_minor()
    body = title + "."
    if ctx.forecast is not None and ctx.forecast.payday is not None:
        body += f" Your pay is due on {day_text(ctx.forecast.payday)}."
    if savings > 0:
        body += f" You have {ctx.money(savings)} in savings you could move across."
    return [Candidate(
        type=LOW_BALANCE, subject="balance", title=title, body=body, reasons=tuple(reasons),
        data={"balance_minor": str(balance), "threshold_minor": str(rule.min_amount_minor),
              "currency": ctx.currency, "overdrawn": str(overdrawn).lower()},
        value_minor=max(0, -balance),
    )]


def idle_cash(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    lookback = int(rule.params.get("lookback_days", 30))
    if ctx.state.history_days(ctx.today) < lookback:
        return []
    start = ctx.today - timedelta(days=lookback)
    lows = [v for k, v in ctx.state.daily_low.items() if date.fromisoformat(k) >= start]
    if not lows:
        return []
    lowest = min(lows)
    outgoings = ctx.state.monthly_outgoings_minor(ctx.today, ctx.policy.spending.discretionary_window_days)
    buffer = int(outgoings * float(rule.params.get("buffer_months_of_outgoings", 1.5)))
    idle = lowest - buffer
    if not meets(rule, idle, percent_of(idle, lowest)):
        return []
    rate_bps = int(rule.params.get("savings_rate_bps", 0))
    yearly = idle * rate_bps // 10_000
    return [Candidate(
        type=IDLE_CASH, subject="balance",
        title=f"{ctx.money(idle)} could be earning {ctx.money(yearly)} a year",
        body=(f"Your balance hasn't gone below {ctx.money(lowest)} in {lookback} days. Keeping "
              f"{ctx.money(buffer)} for your usual spending, you could move {ctx.money(idle)} to savings at "
              f"{rate_bps / 100:.2f}% and earn about {ctx.money(yearly)} a year."),
        reasons=(
            Reason("LOWEST_BALANCE", f"Lowest balance in {lookback} days: {ctx.money(lowest)}.", 1.0),
            Reason("BUFFER", f"A buffer of {ctx.money(buffer)} covers about "
                             f"{rule.params.get('buffer_months_of_outgoings', 1.5)} months of your outgoings.", 0.5),
            Reason("INTEREST_FORGONE", f"About {ctx.money(yearly)} a year at {rate_bps / 100:.2f}%.", 0.5),
        ),
        data={"idle_minor": str(idle), "lowest_balance_minor": str(lowest), "buffer_minor": str(buffer),
              "yearly_interest_minor": str(yearly), "rate_bps": str(rate_bps), "currency": ctx.currency},
        value_minor=idle,
    )]
