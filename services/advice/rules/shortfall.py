"""PROJECTED_SHORTFALL: the balance is forecast to go below zero before payday; say when, by how much, and
the cheapest concrete fix."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from services.advice.forecast import Forecast
from services.advice.overdraft_odds import Odds, overdraft_odds
from services.advice.policy import RuleConfig
from services.advice.rules.base import Candidate, Reason, RuleContext, day_text, days_text, meets, percent_of

TYPE = "PROJECTED_SHORTFALL"


@dataclass(frozen=True)
class Fix:
    code: str  # MOVE_FROM_SAVINGS, ARRANGED_OVERDRAFT, SALARY_ADVANCE
    amount_minor: int
    cost_minor: int
    text: str


def choose_fix(ctx: RuleContext, forecast: Forecast, params: dict[str, object]) -> Fix:
    """Savings first (free); otherwise the cheaper of the arranged overdraft's interest and an advance fee."""
    step = max(1, int(params.get("round_up_minor", 100)))  # type: ignore[call-overload]
    needed = -(-forecast.shortfall_minor // step) * step
    savings = ctx.state.savings_minor()
    by_day = day_text(forecast.first_negative_day or ctx.today)
    if savings >= needed:
        return Fix("MOVE_FROM_SAVINGS", needed, 0, f"Move {ctx.money(needed)} from your savings before {by_day}.")
    days_short = max(1, ((forecast.payday or forecast.end) - (forecast.first_negative_day or ctx.today)).days)
    options: list[Fix] = []
    limit = ctx.state.profile.overdraft_limit_minor if ctx.state.profile else 0
    if limit >= forecast.shortfall_minor:
        apr_bps = int(params.get("overdraft_apr_bps", 0))  # type: ignore[call-overload]
        cost = -(-forecast.shortfall_minor * apr_bps * days_short // (10_000 * 365))
        options.append(Fix("ARRANGED_OVERDRAFT", forecast.shortfall_minor, cost,
                           f"Your arranged overdraft covers it for about {ctx.money(cost)} in interest "
                           f"over {days_text(days_short)}."))
    fee = int(params.get("salary_advance_fee_minor", 0))  # type: ignore[call-overload]
    cap_percent = float(params.get("salary_advance_max_percent_of_income", 0.0))  # type: ignore[arg-type]
    irregular = ctx.state.income_is_irregular()  # gig payouts: no salary to advance
    if not irregular and needed * 100 <= cap_percent * ctx.state.monthly_income_minor():
        options.append(Fix("SALARY_ADVANCE", needed, fee,
                           f"A salary advance of {ctx.money(needed)} costs a flat {ctx.money(fee)}."))
    if not options:
        return Fix("TALK_TO_US", needed, 0, f"That is more than {'your' if irregular else 'your pay or'} overdraft "
                                            "can cover: talk to us and we'll help you plan the weeks ahead.")
    if savings > 0:
        options = [Fix(o.code, o.amount_minor, o.cost_minor,
                       f"Move your {ctx.money(savings)} of savings first; then: {o.text}") for o in options]
    return min(options, key=lambda o: (o.cost_minor, o.code))


def projected_shortfall(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    """On the average day's spending (the forecast's path), or, when the policy sets `min_chance`, on the
    chance of going below zero from the customer's own spending (`overdraft_odds`)."""
    forecast = ctx.forecast
    if forecast is None:
        return []
    if "min_chance" in rule.params:
        return _on_the_odds(ctx, rule, forecast)
    if forecast.first_negative_day is None:
        return []
    # Already overdrawn: LOW_BALANCE speaks to that; this rule is about what is coming, e.g. going below zero
    # again a few days after the pay that ends the current overdraft.
    negative_day = forecast.first_negative_day if forecast.start_balance_minor >= 0 else forecast.next_crossing_day
    if negative_day is None:
        return []
    lead_days = (negative_day - ctx.today).days
    if lead_days > int(rule.params.get("max_lead_days", 7)) or (lead_days == 0 and forecast.start_balance_minor < 0):
        return []
    return _warning(ctx, rule, forecast, negative_day, None)


def _on_the_odds(ctx: RuleContext, rule: RuleConfig, forecast: Forecast) -> list[Candidate]:
    """Warn when the chance of a new overdraft within `max_lead_days` reaches `min_chance`; the amount is the
    shortfall if spending comes in at the `spend_quantile` of the customer's own k-day sums."""
    min_chance = float(rule.params["min_chance"])
    window = ctx.policy.spending.discretionary_window_days
    history = (ctx.state.daily_outflow_history(ctx.today, window, forecast.pay_seen_once)
               if rule.params.get("net_of_unscheduled_income") else ctx.state.daily_spend_history(ctx.today, window))
    odds = overdraft_odds(forecast.scheduled, history,
                          int(rule.params.get("max_lead_days", 7)), min_chance,
                          float(rule.params.get("spend_quantile", 0.9)), forecast.start_balance_minor < 0,
                          forecast.peaks)
    if odds is None or odds.chance < min_chance or odds.balance_minor >= 0:
        return []
    # the path the customer is told about: the balance that day on a heavier run of spending
    heavier = replace(forecast, lowest_balance_minor=odds.balance_minor, lowest_day=odds.day,
                      first_negative_day=odds.day)
    return _warning(ctx, rule, heavier, odds.day, odds)


def when_paid(days_before: int, payday: str = "") -> str:
    """The day below zero told against the pay: before it, on it (the payments due that day take the pay straight
    back), or after it (the pay that ended an overdraft, then a bill); `payday` names the day."""
    on = f" on {payday}" if payday else ""
    if days_before > 1:
        return f"{days_text(days_before)} before your pay is due{on}"
    if days_before == 1:
        return f"the day before your pay is due{on}"
    if days_before == 0:
        named = f" ({payday})" if payday else ""
        return f"the day your pay is due{named}, and what goes out that day takes it back below zero"
    return f"{days_text(-days_before)} after your pay{on}"


def _warning(ctx: RuleContext, rule: RuleConfig, forecast: Forecast, negative_day: date,
             odds: Odds | None) -> list[Candidate]:
    lead_days = (negative_day - ctx.today).days
    shortfall = forecast.shortfall_minor
    if not meets(rule, shortfall, percent_of(shortfall, forecast.outgoings_minor)):
        return []
    fix = choose_fix(ctx, forecast, rule.params)
    days_before_payday = (forecast.payday - negative_day).days if forecast.payday is not None else None
    bills = forecast.largest_bills_before(forecast.lowest_day)
    bills_text = ", ".join(f"{b.name} {ctx.money(-b.amount_minor)} on {day_text(b.day)}" for b in bills)
    reasons = [
        Reason("FORECAST_BELOW_ZERO",
               f"Your balance is forecast to drop to {ctx.money(forecast.lowest_balance_minor)} on "
               f"{day_text(forecast.lowest_day)}, going below zero on {day_text(negative_day)}.", 1.0),
        Reason("DAYS_BEFORE_PAYDAY", f"That is {when_paid(days_before_payday, day_text(forecast.payday))}.", 0.5)
        if days_before_payday is not None and forecast.payday is not None else
        Reason("IRREGULAR_INCOME", "Your income comes in irregular payouts: this counts them as they came over "
                                   "the last weeks, not on a payday.", 0.5),
        Reason("USUAL_SPENDING",
               f"It assumes your usual spending of about {ctx.money(forecast.daily_spend_minor)} a day.", 0.3),
    ]
    data: dict[str, str] = {}
    if odds is not None:
        percent = round(odds.chance * 100)
        stretch = days_text(lead_days)
        reasons[0] = Reason(
            "CHANCE_BELOW_ZERO",
            f"The payments due today take your balance to {ctx.money(forecast.lowest_balance_minor)}."
            if lead_days == 0 else
            f"In about {percent}% of the stretches of {stretch} you spent over the last weeks, your "
            f"balance would go below zero by {day_text(negative_day)}; on a heavier one it would reach "
            f"{ctx.money(forecast.lowest_balance_minor)}.", 1.0)
        reasons[2] = Reason(
            "USUAL_SPENDING",
            f"Your own spending: about {ctx.money(forecast.daily_spend_minor)} on an average day.", 0.3)
        data["chance_percent"] = str(percent)
    if bills:
        reasons.append(Reason("UPCOMING_PAYMENTS", f"Upcoming payments: {bills_text}.", 0.6))
    reasons.append(Reason(f"FIX_{fix.code}", fix.text, 0.0))
    before_payday = f", {when_paid(days_before_payday)}" if days_before_payday is not None else ""
    likely = f" (about a {data['chance_percent']}% chance on your own spending)" if odds is not None else ""
    return [Candidate(
        type=TYPE, subject="balance",
        title=f"You may be {ctx.money(shortfall)} short on {day_text(negative_day)}",
        body=(f"Your balance is forecast to go below zero on {day_text(negative_day)}{likely} and could reach "
              f"{ctx.money(forecast.lowest_balance_minor)}{before_payday}. {fix.text}"),
        reasons=tuple(reasons),
        data={
            "shortfall_minor": str(shortfall), "currency": ctx.currency,
            "negative_day": negative_day.isoformat(), "lowest_day": forecast.lowest_day.isoformat(),
            "lowest_balance_minor": str(forecast.lowest_balance_minor),
            "payday": forecast.payday.isoformat() if forecast.payday else "",  # "": irregular income, no payday
            "fix": fix.code, "fix_amount_minor": str(fix.amount_minor), "fix_cost_minor": str(fix.cost_minor),
            "lead_days": str(lead_days), **data,
        },
        value_minor=shortfall,
    )]
