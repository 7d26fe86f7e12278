"""The per-card outcomes on hand-made tables: each figure worked out by hand."""

import numpy as np
import pytest

from services.fraud.offline.outcomes import by_2nd_fraud_ceiling, card_outcomes

# card, time, fraud, amount, score. Thresholds: challenge 0.3, block 0.85.
ROWS = [
    # A: frauds at t2, t3, t4; first alert at t3 (the 2nd fraud): 1 fraud before, 300 of 400 stopped
    ("A", 1, 0, 10.0, 0.1), ("A", 2, 1, 100.0, 0.2), ("A", 3, 1, 100.0, 0.9), ("A", 4, 1, 200.0, 0.1),
    # B: frauds at t1, t2, t3; first alert at t3 (the 3rd fraud): 2 before, 50 of 150 stopped
    ("B", 3, 1, 50.0, 0.4), ("B", 1, 1, 50.0, 0.0), ("B", 2, 1, 50.0, 0.1),  # rows out of order on purpose
    # C: one fraud, never alerted: 1 before, nothing stopped
    ("C", 1, 1, 80.0, 0.29),
    # D: a genuine alert before its only fraud: 0 frauds before the first alert
    ("D", 1, 0, 5.0, 0.5), ("D", 2, 1, 20.0, 0.1),
    # genuine cards: E wrongly alerted (and blocked), F quiet
    ("E", 1, 0, 30.0, 0.95), ("E", 2, 0, 30.0, 0.1), ("F", 1, 0, 30.0, 0.2),
]


def _outcomes(rows: list[tuple[str, int, int, float, float]]) -> dict:
    card, ts, fraud, amount, score = (np.array(col) for col in zip(*rows, strict=True))
    return card_outcomes(card.astype(object), ts, fraud, amount, score, challenge=0.3, block=0.85)


def test_each_compromised_card_counts_the_frauds_before_its_first_alert() -> None:
    out = _outcomes(ROWS)
    assert out["compromised_cards"] == 4
    # frauds before the first alert: A 1, B 2, C 1 (never alerted), D 0 -> median 1
    assert out["frauds_before_first_alert_median"] == 1.0
    # by the 2nd fraud: A (at it) and D (before any); not B (3rd), not C (never alerted)
    assert out["cards_alerted_by_2nd_fraud"] == pytest.approx(2 / 4)
    # stopped: A 100 + 200, B 50, C 0, D 20 of 400 + 150 + 80 + 20
    assert out["value_detection_rate"] == pytest.approx(370 / 650)
    # cards wrongly alerted (E) per compromised card alerted (A, B, D)
    assert out["account_false_positive_ratio"] == pytest.approx(1 / 3)


def test_genuine_payments_alerted_and_blocked_per_thousand() -> None:
    out = _outcomes(ROWS)
    # genuine rows: A t1, D t1, E t1, E t2, F t1 = 5; alerted: D t1 (0.5), E t1 (0.95); blocked: E t1
    assert out["genuine_alerts_per_1000"] == pytest.approx(400.0)
    assert out["genuine_blocks_per_1000"] == pytest.approx(200.0)


def test_no_fraud_and_no_alert_leave_ratios_undefined_not_zero() -> None:
    out = _outcomes([("E", 1, 0, 30.0, 0.1), ("F", 1, 0, 30.0, 0.2)])
    assert out["compromised_cards"] == 0
    assert out["cards_alerted_by_2nd_fraud"] is None and out["value_detection_rate"] is None
    assert out["account_false_positive_ratio"] is None
    assert out["genuine_alerts_per_1000"] == 0.0


def test_the_by_2nd_fraud_ceiling_counts_cards_with_a_visible_fraud_among_their_first_two() -> None:
    # card, time, fraud, visible: A's first two frauds are invisible (a compromised terminal nobody knows yet);
    # B's second is visible; C has one invisible fraud; D one visible fraud after a genuine payment; E is genuine
    rows = [("A", 1, 1, 0), ("A", 2, 1, 0), ("A", 3, 1, 1), ("B", 2, 1, 1), ("B", 1, 1, 0), ("C", 1, 1, 0),
            ("D", 1, 0, 1), ("D", 2, 1, 1), ("E", 1, 0, 1)]
    card, ts, fraud, visible = (np.array(col) for col in zip(*rows, strict=True))
    assert by_2nd_fraud_ceiling(card.astype(object), ts, fraud, visible.astype(bool)) == pytest.approx(2 / 4)
    assert by_2nd_fraud_ceiling(card.astype(object), ts, np.zeros(len(card)), visible) is None
