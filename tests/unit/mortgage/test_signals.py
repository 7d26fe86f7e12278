"""Payment-difficulty signals and the offer decision on hand-built histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.mortgage import activity as act
from services.mortgage import signals as sig
from services.mortgage.decision import decide, next_payment_date, offer_id
from services.mortgage.policy import policy_in_force
from tests.unit.mortgage.builders import uk_mortgage

POLICY = policy_in_force("UK", date(2025, 6, 1))
TH = POLICY.care.signals
CLASSIFY = act.Classifier(TH.gambling_mccs, TH.payday_loan_mccs, TH.payday_loan_keywords)
_n = 0


def txn(day: date, amount: int, channel: str = "CARD_PRESENT", *, credit: bool = False, **kw) -> act.Txn:
    global _n
    _n += 1
    return act.Txn(id=f"t{_n}", at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC), amount_minor=amount,
                   currency="GBP", is_credit=credit, channel=channel, **kw)


def salary(day: date, amount: int = 2_500_00, payer: str = "ACME") -> act.Txn:
    return txn(day, amount, "SALARY", credit=True, merchant_name=payer, counterparty_id=f"emp_{payer.lower()}",
               balance_after_minor=3_000_00)


def history(*txns: act.Txn) -> act.Activity:
    a = act.Activity()
    for t in sorted(txns, key=lambda t: t.at):
        act.apply(a, t, CLASSIFY)
    return a


def paid_jan_to_apr() -> list[act.Txn]:
    return [salary(date(2025, m, 25)) for m in (1, 2, 3, 4)]


def first_offer_day(a: act.Activity, start: date, end: date, mortgage) -> date | None:
    day = start
    while day <= end:
        if decide("C1", mortgage, sig.detect(a, day, TH), day).offer:
            return day
        day += timedelta(days=1)
    return None


def test_a_customer_whose_salary_stops_gets_an_offer_before_the_payment_date() -> None:
    a = history(*paid_jan_to_apr())           # no salary on 25 May
    mortgage = uk_mortgage(payment_day=1)     # due 1 June
    day = first_offer_day(a, date(2025, 5, 25), date(2025, 6, 1), mortgage)
    assert day == date(2025, 5, 29)           # 25th + 3 days' grace, then the signal: 3 days before the payment
    decision = decide("C1", mortgage, sig.detect(a, day, TH), day)
    assert decision.due_date == date(2025, 6, 1)
    assert decision.options and decision.options[0].code == "PAYMENT_HOLIDAY"
    assert all(o.monthly_change_minor < 0 for o in decision.options)
    texts = [r.text for r in decision.reasons]
    assert "Your salary from ACME usually arrives on the 25th and hasn't arrived yet." in texts
    assert any("£948.97 is due on 01 June" in t for t in texts)


@pytest.mark.parametrize("days_late", [1, 2, 3])
def test_a_salary_a_few_days_late_is_not_a_signal(days_late: int) -> None:
    arrived = date(2025, 5, 25) + timedelta(days=days_late)
    a = history(*paid_jan_to_apr(), salary(arrived))
    assert first_offer_day(a, date(2025, 5, 25), date(2025, 6, 1), uk_mortgage(payment_day=1)) is None


def test_waiting_for_a_late_salary_inside_the_grace_period_raises_nothing() -> None:
    a = history(*paid_jan_to_apr())
    for day in (date(2025, 5, 26), date(2025, 5, 27), date(2025, 5, 28)):
        assert sig.detect(a, day, TH) == []


def test_a_new_employer_paying_a_similar_salary_is_not_a_lost_income() -> None:
    a = history(*paid_jan_to_apr(), salary(date(2025, 5, 15), 2_600_00, payer="Globex"))
    assert [s.code for s in sig.detect(a, date(2025, 5, 30), TH)] == []


def test_salary_on_the_last_working_day_is_expected_at_next_months_end() -> None:
    a = history(*[salary(date(2025, m, d)) for m, d in ((1, 31), (2, 28), (3, 31))])
    model = sig.income_model(a.salaries["emp_acme"])
    assert (model.rhythm, model.expected) == ("LAST_WORKING_DAY", date(2025, 4, 30))


def test_a_salary_paid_early_last_month_is_still_expected_on_the_usual_day() -> None:
    a = history(*[salary(date(2025, m, 25)) for m in (1, 2, 3)], salary(date(2025, 4, 23)))
    model = sig.income_model(a.salaries["emp_acme"])
    # 25 May 2025 is a Sunday: paid on the Friday before, late only from the 25th plus the grace
    assert (model.rhythm, model.anchors, model.expected, model.nominal) == (
        "MONTHLY", (25,), date(2025, 5, 23), date(2025, 5, 25))


def test_falling_income() -> None:
    a = history(*paid_jan_to_apr(), salary(date(2025, 5, 25), 1_500_00))
    found = sig.detect(a, date(2025, 5, 26), TH)
    assert [s.code for s in found] == [sig.INCOME_FALLING]
    assert found[0].text == "Your last salary from ACME was £1,500.00, less than your usual £2,500.00."


def test_a_small_pay_dip_is_not_falling_income() -> None:
    a = history(*paid_jan_to_apr(), salary(date(2025, 5, 25), 2_100_00))  # 84% of usual: above the 80% line
    assert sig.detect(a, date(2025, 5, 26), TH) == []


def test_bounced_direct_debits_and_a_bounced_mortgage_payment() -> None:
    bounced = txn(date(2025, 5, 10), 45_00, "DIRECT_DEBIT", returned=True, merchant_name="Council Tax")
    found = sig.detect(history(*paid_jan_to_apr(), bounced), date(2025, 5, 20), TH)
    assert [s.code for s in found] == [sig.RETURNED_DIRECT_DEBITS]
    assert "Council Tax" in found[0].text
    # Out of the 30-day window: forgotten.
    assert sig.detect(history(*paid_jan_to_apr(), bounced), date(2025, 6, 20), TH)[:1] != found[:1]

    mortgage = txn(date(2025, 5, 1), 948_97, "MORTGAGE_PAYMENT", returned=True, merchant_name="Mortgage")
    found = sig.detect(history(*paid_jan_to_apr(), mortgage), date(2025, 5, 2), TH)
    assert found[0].code == sig.MORTGAGE_PAYMENT_RETURNED


def test_a_payday_loan_credit() -> None:
    loan = txn(date(2025, 5, 12), 300_00, "TRANSFER_IN", credit=True, merchant_name="QuickCash Loans",
               description="QuickCash payday loan")
    found = sig.detect(history(*paid_jan_to_apr(), loan), date(2025, 5, 20), TH)
    assert [s.code for s in found] == [sig.PAYDAY_LOAN]
    assert "£300.00 from QuickCash Loans" in found[0].text


def _spending(start: date, days: int, per_day: int, gambling_per_day: int = 0) -> list[act.Txn]:
    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        out.append(txn(d, per_day, merchant_name="Shop", mcc="5411", balance_after_minor=1_000_00))
        if gambling_per_day:
            out.append(txn(d, gambling_per_day, "CARD_NOT_PRESENT", merchant_name="BetNow Sports", mcc="7995",
                           balance_after_minor=1_000_00))
    return out


def test_rising_gambling_share() -> None:
    base = _spending(date(2025, 3, 1), 60, 20_00)
    recent = _spending(date(2025, 4, 30), 30, 20_00, gambling_per_day=5_00)  # 20% of spending
    found = sig.detect(history(*base, *recent), date(2025, 5, 29), TH)
    assert [s.code for s in found] == [sig.GAMBLING_SHARE_RISING]
    assert found[0].text == "Gambling was 20% of your spending in the last 30 days, up from 0%."


def test_steady_gambling_is_not_a_rising_share() -> None:
    steady = _spending(date(2025, 3, 1), 90, 20_00, gambling_per_day=5_00)
    assert sig.detect(history(*steady), date(2025, 5, 29), TH) == []


def test_rising_overdraft_use() -> None:
    base = _spending(date(2025, 3, 1), 60, 10_00)
    overdrawn = [txn(date(2025, 5, 1) + timedelta(days=i), 10_00, merchant_name="Shop", balance_after_minor=-50_00)
                 for i in range(0, 30, 3)]                      # a debit every 3 days keeps it overdrawn
    found = sig.detect(history(*base, *overdrawn), date(2025, 5, 30), TH)
    assert [s.code for s in found] == [sig.RISING_OVERDRAFT]
    assert found[0].text.startswith("Your account was overdrawn on 30 of the last 30 days")


def test_a_single_weak_signal_does_not_trigger_an_offer_but_two_do() -> None:
    loan = txn(date(2025, 5, 22), 300_00, "TRANSFER_IN", credit=True, merchant_name="QuickCash Loans")
    bounced = txn(date(2025, 5, 23), 45_00, "DIRECT_DEBIT", returned=True, merchant_name="Council Tax")
    mortgage = uk_mortgage(payment_day=1)
    one = decide("C1", mortgage, sig.detect(history(*paid_jan_to_apr(), loan), date(2025, 5, 24), TH),
                 date(2025, 5, 24))
    assert not one.offer
    two = decide("C1", mortgage, sig.detect(history(*paid_jan_to_apr(), loan, bounced), date(2025, 5, 24), TH),
                 date(2025, 5, 24))
    assert two.offer and two.escalate  # a payday loan marks a vulnerable case for an adviser


def test_an_offer_waits_until_the_payment_is_within_the_window() -> None:
    a = history(*paid_jan_to_apr())
    mortgage = uk_mortgage(payment_day=20)                          # due 20 June: 22 days after the 29th
    decision = decide("C1", mortgage, sig.detect(a, date(2025, 5, 29), TH), date(2025, 5, 29))
    assert not decision.offer and not decision.options
    assert "OFFER_LATER" in {r.code for r in decision.reasons}
    later = decide("C1", mortgage, sig.detect(a, date(2025, 6, 8), TH), date(2025, 6, 8))
    assert later.offer                                              # 12 days before


def test_the_offer_id_is_the_same_all_through_one_payment_cycle() -> None:
    a = history(*paid_jan_to_apr())
    mortgage = uk_mortgage(payment_day=1)
    ids = {decide("C1", mortgage, sig.detect(a, d, TH), d).offer_id
           for d in (date(2025, 5, 29), date(2025, 5, 30), date(2025, 6, 1))}
    assert ids == {offer_id("C1", "mtg-1", date(2025, 6, 1))}


def test_an_arrears_case_goes_to_an_adviser() -> None:
    a = history(*paid_jan_to_apr())
    decision = decide("C1", uk_mortgage(in_arrears=True), sig.detect(a, date(2025, 5, 29), TH), date(2025, 5, 29))
    assert decision.offer and decision.escalate


@pytest.mark.parametrize(
    ("payment_day", "today", "due"),
    [(1, date(2025, 5, 29), date(2025, 6, 1)), (29, date(2025, 5, 29), date(2025, 5, 29)),
     (31, date(2025, 2, 10), date(2025, 2, 28)), (15, date(2025, 12, 20), date(2026, 1, 15))],
)
def test_next_payment_date(payment_day: int, today: date, due: date) -> None:
    assert next_payment_date(payment_day, today) == due


def test_a_payment_already_collected_today_moves_the_next_date_a_month_on() -> None:
    assert next_payment_date(6, date(2025, 4, 6), last_paid=date(2025, 4, 6)) == date(2025, 5, 6)
    assert next_payment_date(6, date(2025, 4, 3), last_paid=date(2025, 4, 3)) == date(2025, 5, 6)  # paid early
    assert next_payment_date(6, date(2025, 4, 6), last_paid=date(2025, 3, 6)) == date(2025, 4, 6)


def test_activity_round_trips_through_json() -> None:
    a = history(*paid_jan_to_apr(), *_spending(date(2025, 4, 1), 5, 10_00, 2_00),
                txn(date(2025, 4, 3), 45_00, "DIRECT_DEBIT", returned=True, merchant_name="Gym"))
    assert act.to_json(act.from_json(act.to_json(a))) == act.to_json(a)


def test_old_days_are_dropped() -> None:
    a = history(*_spending(date(2025, 1, 1), 200, 10_00))
    assert len(a.days) <= act.KEEP_DAYS + 1


# ---- PAYMENT_AT_RISK: the balance projected to the due date ---------------------------------------------------

def _living(balance: int, per_day: int, bill_day: int = 0, bill: int = 0) -> act.Activity:
    """28 days of steady card spending from 1 March (and a direct debit on `bill_day` of March), ending with
    `balance` on 28 March."""
    rows = [txn(date(2025, 3, 1) + timedelta(days=i), per_day, merchant_name="Shop", mcc="5411",
                balance_after_minor=balance) for i in range(28)]
    if bill:
        rows.append(txn(date(2025, 3, bill_day), bill, "DIRECT_DEBIT", merchant_name="Energy",
                        balance_after_minor=balance))
    return history(*rows)


def _at_risk(a: act.Activity, due: date, payment: int, today: date = date(2025, 3, 29)) -> bool:
    ctx = sig.Context(next_due=due, next_payment_minor=payment)
    return any(s.code == sig.PAYMENT_AT_RISK for s in sig.detect(a, today, TH, ctx))


def test_the_spending_until_the_due_date_is_taken_off_the_balance() -> None:
    # 1,000.00 today, 50.00 a day for 10 days: 500.00 left for an 800.00 payment
    assert _at_risk(_living(1_000_00, 50_00), date(2025, 4, 8), 800_00)
    # the same with 1,400.00: 900.00 left
    assert not _at_risk(_living(1_400_00, 50_00), date(2025, 4, 8), 800_00)
    # and the balance alone (the old check) would have said the 1,000.00 covers it
    assert not _at_risk(_living(1_000_00, 50_00), date(2025, 3, 30), 800_00)


def test_a_direct_debit_due_before_the_payment_counts_on_its_day_of_the_month() -> None:
    # 1,400.00 covers 10 days of spending and the payment, not also March's 300.00 energy bill on the 3rd of April
    a = _living(1_400_00, 50_00, bill_day=3, bill=300_00)
    assert _at_risk(a, date(2025, 4, 8), 800_00)
    assert not _at_risk(a, date(2025, 4, 3), 600_00)   # collected the day after the due date: not counted


def test_income_expected_before_the_due_date_covers_the_spending() -> None:
    spending = [txn(date(2025, 3, 28) + timedelta(days=i), 50_00, merchant_name="Shop", mcc="5411",
                    balance_after_minor=300_00) for i in range(28)]
    paid = [salary(d, 2_000_00) for d in (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31))]
    with_pay, without = history(*spending, *paid), history(*spending)
    with_pay.balance_minor = without.balance_minor = 300_00
    # 25 April: 300.00, 7 days of 50.00 before 2 May, and the last-working-day salary due on 30 April
    assert not _at_risk(with_pay, date(2025, 5, 2), 800_00, today=date(2025, 4, 25))
    assert _at_risk(without, date(2025, 5, 2), 800_00, today=date(2025, 4, 25))


def _gig_payouts() -> list[act.Txn]:
    """Platform payouts on irregular days of March (no weekly or monthly grid fits them), 150.00-260.00 each."""
    days_and_amounts = [(1, 180_00), (3, 150_00), (4, 260_00), (8, 200_00), (9, 170_00), (13, 240_00),
                        (16, 190_00), (17, 150_00), (20, 230_00), (24, 210_00), (26, 160_00), (27, 250_00)]
    return [txn(date(2025, 3, d), amount, "SALARY", credit=True, merchant_name="RideCo",
                counterparty_id="gig_rideco", balance_after_minor=300_00) for d, amount in days_and_amounts]


def test_gig_payouts_count_at_their_rate() -> None:
    spending = _spending(date(2025, 3, 1), 28, 50_00)
    with_payouts, without = history(*spending, *_gig_payouts()), history(*spending)
    assert [m.rhythm for _, m in sig._models(with_payouts, TH)] == ["IRREGULAR"]
    with_payouts.balance_minor = without.balance_minor = 300_00
    # 300.00 today and 10 days of 50.00 before a 200.00 payment: short, unless the payouts keep coming at their
    # rate (2,390.00 in the 28 days seen: 853.57 in 10 days)
    assert _at_risk(without, date(2025, 4, 8), 200_00)
    assert not _at_risk(with_payouts, date(2025, 4, 8), 200_00)


def test_a_gig_earner_with_a_thin_month_behind_them_is_judged_on_their_usual_pay() -> None:
    # 200.00 every third day from 1 January to the end of February (20 payouts), then two in March; 50.00 spent
    # a day throughout. On 29 March, 300.00 in the account and a 200.00 payment due on 8 April.
    payouts = [txn(date(2025, 1, 1) + timedelta(days=3 * i), 200_00, "SALARY", credit=True, merchant_name="RideCo",
                   counterparty_id="gig_rideco", balance_after_minor=300_00) for i in range(20)]
    payouts += [txn(date(2025, 3, d), 200_00, "SALARY", credit=True, merchant_name="RideCo",
                    counterparty_id="gig_rideco", balance_after_minor=300_00) for d in (7, 19)]
    a = history(*_spending(date(2025, 1, 1), 87, 50_00), *payouts)
    a.balance_minor = 300_00
    assert [m.rhythm for _, m in sig._models(a, TH)] == ["IRREGULAR"]
    # March alone (400.00 in, 1,400.00 out) says short; the 84 days from 4 January bring 4,200.00 (500.00 in 10
    # days), and 300.00 + 500.00 - 200.00 covers 10 days of 50.00; with a 400.00 payment it does not
    assert not _at_risk(a, date(2025, 4, 8), 200_00)
    assert _at_risk(a, date(2025, 4, 8), 400_00)


def _stream(days: list[date], amount: int = 100_00) -> act.SalaryStream:
    return act.SalaryStream("RideCo", list(days), [amount] * len(days))


WEEKLY_FROM_JANUARY = [date(2025, 1, 1) + timedelta(days=7 * i) for i in range(12)]


@pytest.mark.parametrize(("first_seen", "payout_days", "window", "days", "expected"), [
    # 84 days of history before 26 March, 100.00 a week: 12 payouts, 100.00 in 7 days
    (date(2025, 1, 1), WEEKLY_FROM_JANUARY, 84, 7, 100_00),
    # a customer seen for 14 days: the rate over those 14 days (2 payouts)
    (date(2025, 3, 12), [date(2025, 3, 12), date(2025, 3, 19)], 84, 7, 100_00),
    # a window shorter than the history: only its payouts (the last two of the twelve) count
    (date(2025, 1, 1), WEEKLY_FROM_JANUARY, 14, 14, 200_00),
    # a full stream (its oldest payments dropped) covers only the days since its oldest kept payment:
    # KEEP_SALARIES payouts of 100.00, one a day up to yesterday, bring 1,000.00 in 10 days
    (date(2024, 10, 1), [date(2025, 3, 25) - timedelta(days=i) for i in range(act.KEEP_SALARIES)][::-1], 84, 10,
     1_000_00),
    # nothing to come before a payment due today
    (date(2025, 1, 1), [date(2025, 3, 20)], 84, 0, 0),
])
def test_the_rate_of_irregular_income(first_seen: date, payout_days: list[date], window: int, days: int,
                                      expected: int) -> None:
    a = act.Activity(first_seen=first_seen)
    assert sig.irregular_rate(a, _stream(payout_days), date(2025, 3, 26), window, days) == expected


@pytest.mark.parametrize(("daily", "k", "sums"), [
    ([10, 0, 30, 0], 2, [10, 30, 30]),      # every 2 consecutive days
    ([10, 0, 30, 0], 0, [0]),               # nothing to go
    ([10, 0, 30, 0], 8, [80]),              # more days to go than history: the whole history scaled
])
def test_how_the_days_to_the_payment_could_go(daily: list[int], k: int, sums: list[int]) -> None:
    assert sig.k_day_sums(daily, k) == sums
