"""Rules about one charge: DUPLICATE_CHARGE and FEE_CHARGED."""

from __future__ import annotations

from datetime import timedelta

from services.advice.policy import RuleConfig
from services.advice.rules.base import Candidate, Reason, RuleContext, meets, percent_of

DUPLICATE_CHARGE = "DUPLICATE_CHARGE"
FEE_CHARGED = "FEE_CHARGED"


def duplicate_charge(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    tx = ctx.tx
    payee = tx.payee_key or tx.payee_name
    if tx.is_credit or not payee or tx.channel in ("FEE", "TRANSFER_OUT") or ctx.observation.series_event:
        return []
    if tx.mcc in {str(m) for m in rule.params.get("exclude_mccs", [])}:
        return []  # repeated bets and cash withdrawals are deliberate
    window = timedelta(minutes=int(rule.params.get("window_minutes", 30)))
    for earlier in reversed(ctx.observation.earlier_charges):
        if earlier.payee_key != payee or earlier.card_token != tx.card_token or tx.timestamp - earlier.at > window:
            continue
        difference = abs(earlier.amount_minor - tx.amount_minor)
        # percent threshold: the amounts may differ by at most `min_percent` of the charge
        if tx.amount_minor < rule.min_amount_minor or percent_of(difference, tx.amount_minor) > rule.min_percent:
            continue
        minutes = int((tx.timestamp - earlier.at).total_seconds() // 60)
        name = tx.payee_name or "the same merchant"
        return [Candidate(
            type=DUPLICATE_CHARGE, subject=earlier.tx_id,
            title=f"Charged twice? {ctx.money(tx.amount_minor)} at {name}",
            body=(f"{name} charged {ctx.money(earlier.amount_minor)} and then {ctx.money(tx.amount_minor)} "
                  f"{minutes} minutes apart on the same card. If you only paid once, ask {name} to refund one "
                  f"or dispute it in the app."),
            reasons=(Reason("SAME_AMOUNT_SAME_MERCHANT",
                            f"Two charges of {ctx.money(tx.amount_minor)} at {name} {minutes} minutes apart.", 1.0),),
            data={"amount_minor": str(tx.amount_minor), "first_tx_id": earlier.tx_id, "second_tx_id": tx.id,
                  "minutes_apart": str(minutes), "currency": ctx.currency, "merchant": name},
            value_minor=tx.amount_minor,
        )]
    return []


def fee_charged(ctx: RuleContext, rule: RuleConfig) -> list[Candidate]:
    tx = ctx.tx
    if tx.is_credit or tx.channel != "FEE":
        return []
    if not meets(rule, tx.amount_minor, percent_of(tx.amount_minor, ctx.state.monthly_income_minor())):
        return []
    text = f"{tx.description} {tx.payee_name}".lower()
    overdraft_words = [str(w) for w in rule.params.get("overdraft_fee_keywords", [])]
    foreign_words = [str(w) for w in rule.params.get("foreign_fee_keywords", [])]
    balance_before = None if tx.balance_after_minor is None else tx.balance_after_minor + tx.amount_minor
    if any(w in text for w in overdraft_words) or (balance_before is not None and balance_before < 0) \
            or ctx.state.returned_payments:
        avoidable, code = True, "OVERDRAFT_FEE"
        how = ("It was avoidable: keeping your balance above zero avoids it, and we'll warn you days ahead "
               "when your balance is forecast to run short.")
    elif any(w in text for w in foreign_words):
        avoidable, code = True, "FOREIGN_FEE"
        how = "It was avoidable: a card without foreign transaction fees avoids it."
    else:
        avoidable, how, code = False, "This looks like a standard account fee.", "ACCOUNT_FEE"
    label = tx.description or tx.payee_name or "A fee"
    return [Candidate(
        type=FEE_CHARGED, subject=tx.id,
        title=f"You were charged a {ctx.money(tx.amount_minor)} fee",
        body=f"{label}: {ctx.money(tx.amount_minor)}. {how}",
        reasons=(Reason(code, f"{label}: {ctx.money(tx.amount_minor)}.", 1.0),
                 Reason("AVOIDABLE" if avoidable else "NOT_AVOIDABLE", how, 0.5)),
        data={"fee_minor": str(tx.amount_minor), "avoidable": str(avoidable).lower(), "fee_kind": code,
              "currency": ctx.currency},
        value_minor=tx.amount_minor if avoidable else 0,
    )]
