"""Scoring offers against ground truth: which offers count as in time, and which as false."""

from __future__ import annotations

from datetime import date

from services.mortgage.offline.evaluation import Offer, score, truth_from_records, warmup_end
from services.simulator.truth import interval

RECORDS = [
    {"type": "missed_payment", "customer_id": "A", "mortgage_id": "m", "due_date": "2025-03-01"},
    {"type": "missed_payment", "customer_id": "A", "mortgage_id": "m", "due_date": "2025-04-01"},
    {"type": "missed_payment", "customer_id": "B", "mortgage_id": "m", "due_date": "2025-03-10"},
    {"type": "missed_payment", "customer_id": "X", "mortgage_id": None, "due_date": "2025-03-10"},  # not a mortgage
    {"type": "hardship", "customer_id": "C"},
]
HOLDERS = {"A", "B", "C", "D", "E"}


def test_an_offer_counts_only_between_35_and_3_days_before_the_first_missed_payment() -> None:
    truth = truth_from_records(RECORDS, HOLDERS)
    assert truth.first_missed == {"A": date(2025, 3, 1), "B": date(2025, 3, 10)}
    offers = [Offer("A", date(2025, 3, 1), date(2025, 2, 26)),   # 3 days before: in time
              Offer("B", date(2025, 3, 10), date(2025, 3, 8))]   # 2 days before: too late
    figures = score(offers, truth)
    assert figures["care_recall_3d"] == 0.5
    # A's offer of 26 February is also 34 days before her 1 April payment: 2 of 3 payments covered.
    assert figures["recall_3d_all_missed_payments"] == round(2 / 3, 4)
    assert figures["false_offer_rate"] == 0.0


def test_an_offer_to_a_customer_never_in_difficulty_is_false() -> None:
    truth = truth_from_records(RECORDS, HOLDERS)
    offers = [Offer("A", date(2025, 3, 1), date(2025, 2, 20)), Offer("C", date(2025, 3, 1), date(2025, 2, 20)),
              Offer("D", date(2025, 3, 1), date(2025, 2, 20)), Offer("D", date(2025, 4, 1), date(2025, 3, 20))]
    figures = score(offers, truth)
    assert figures["false_offers"] == 2                      # D twice; C had a hardship episode
    assert figures["false_offer_rate"] == 0.5               # D of the healthy holders D and E
    assert figures["false_offers_share_of_offers"] == 0.5   # 2 of the 4 offers went to D
    assert figures["false_offer_customers"] == ["D"]


def test_after_the_warm_up_only_payments_due_once_enough_history_was_seen_count() -> None:
    truth = truth_from_records(RECORDS, HOLDERS)
    offers = [Offer("B", date(2025, 3, 10), date(2025, 3, 6))]      # 4 days before B's payment: in time
    warmup_until = warmup_end(date(2025, 2, 20), 7)                   # history from 20 Feb: dues from 2 March
    assert warmup_until == date(2025, 3, 2)
    figures = score(offers, truth, warmup_until)
    assert figures["care_recall_3d"] == 0.5                          # A's payment of 1 March missed
    assert figures["care_recall_3d_after_warmup"] == 1.0            # ...but it was due in the warm-up
    assert figures["customers_with_missed_payment_after_warmup"] == 1
    assert "care_recall_3d_after_warmup" not in score(offers, truth)


def test_every_segment_carries_the_intervals_of_its_recall_and_false_offers() -> None:
    rhythms = [{"type": "pay_rhythm", "customer_id": c, "rhythm": r}
               for c, r in (("A", "WEEKLY"), ("B", "WEEKLY"), ("C", "MONTHLY"), ("D", "MONTHLY"), ("E", "MONTHLY"))]
    truth = truth_from_records(RECORDS + rhythms, HOLDERS)
    offers = [Offer("B", date(2025, 3, 10), date(2025, 3, 6)), Offer("D", date(2025, 3, 10), date(2025, 3, 1))]
    figures = score(offers, truth, warmup_end(date(2025, 2, 20), 7))
    weekly, monthly = figures["by_pay_rhythm"]["WEEKLY"], figures["by_pay_rhythm"]["MONTHLY"]
    assert weekly["care_recall_3d_after_warmup_interval"] == interval(1, 1)   # B in time; A due in the warm-up
    assert monthly["false_offer_rate_interval"] == interval(1, 2)            # D of the healthy D and E
    assert weekly["false_offer_rate_interval"] is None                       # no healthy weekly customer
    assert figures["false_offer_rate_interval"] == interval(1, 2)
