import numpy as np
import pytest

from services.fraud.offline.protocol import card_precision_top_k, handbook_split
from services.platform.errors import ValidationError


def test_split_drops_cards_known_from_training_and_from_the_delay_period() -> None:
    # days 0-6 train, 7-13 delay, 14-20 test
    day = np.array([0, 3, 7, 14, 14, 14, 15, 15, 16, 17, 18, 19, 20])
    card = np.array(["a", "b", "c", "a", "c", "d", "c", "d", "x", "x", "x", "x", "x"], dtype=object)
    fraud = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    split = handbook_split(day, fraud, card, train_start_day=0)
    assert split.train.tolist() == [True, True] + [False] * 11
    # test day 0 (day 14): card a known from training; card c's fraud on day 7 arrives before test day 1 only
    assert split.test[3:6].tolist() == [False, True, True]
    assert split.test[6:8].tolist() == [False, True]  # day 15: c now known


def test_split_needs_every_test_day() -> None:
    day = np.array([0, 1, 14])
    with pytest.raises(ValidationError) as err:
        handbook_split(day, np.zeros(3), np.array(["a", "b", "c"], dtype=object), 0)
    assert err.value.field == "test"


def test_card_precision_counts_cards_not_transactions_and_removes_detected_cards() -> None:
    day = np.array([0, 0, 0, 0, 1, 1])
    card = np.array(["a", "a", "b", "c", "a", "b"], dtype=object)
    fraud = np.array([1, 1, 0, 1, 1, 1])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.5])
    # day 0, k=2: cards a (0.9, fraud) and b (0.7, genuine) -> 1/2; day 1: a detected so removed, b fraud -> 1/2
    assert card_precision_top_k(day, card, fraud, score, k=2) == pytest.approx(0.5)



def test_card_detected_on_an_earlier_day_leaves_room_for_others() -> None:
    day = np.array([0, 1, 1])
    card = np.array(["a", "a", "b"], dtype=object)
    fraud = np.array([1, 1, 0])
    score = np.array([0.9, 0.9, 0.5])
    # day 0: a detected (1/1); day 1: a is removed, so the top card is b, genuine (0/1)
    assert card_precision_top_k(day, card, fraud, score, k=1) == pytest.approx(0.5)
