"""Merchants' and categories' shared state (`EntityVolume`): counts per hour, bounded whatever the bank's volume,
the same counts as a list of times for windows in whole hours, and risks that stay shares."""

import json
import random

import pytest

from services.fraud.features import FeatureConfig, FeatureEngine
from services.fraud.state_codec import decode_customer, encode_customer
from services.fraud.windows import BUCKET_SECONDS, CustomerHistory, EntityActivity, EntityVolume, entity_state
from tests.unit.fraud.builders import DAY, T0, f, label, tx

H = BUCKET_SECONDS
HORIZON = FeatureConfig().horizon_seconds


def _times(n: int, days: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return sorted(T0 + rng.uniform(0, days * DAY) for _ in range(n))


def test_merchants_and_categories_count_per_hour_terminals_keep_each_time() -> None:
    assert entity_state("terminal") is EntityActivity
    assert entity_state("merchant") is EntityVolume and entity_state("mcc") is EntityVolume


def test_a_category_paid_at_by_the_whole_bank_stays_one_bucket_an_hour_of_the_horizon() -> None:
    volume = EntityVolume()
    times = _times(200_000, 60)  # a category of a big bank: 200,000 payments over 60 days
    for ts in times:
        volume.append(ts, ts - HORIZON)
    assert len(volume.hours) <= HORIZON / H + 1  # 913 buckets, not the 126,000 times inside the horizon
    assert len(json.dumps(volume.to_dict())) < 20_000
    exact = sum(1 for ts in times if ts > times[-1] - HORIZON)
    assert exact - 200 < volume.count(times[-1] - HORIZON, times[-1]) <= exact + 200  # an hour's worth at most


def test_windows_in_whole_hours_count_what_a_list_of_times_counts() -> None:
    volume, listed = EntityVolume(), EntityActivity()
    times = _times(5_000, 40)
    for ts in times:
        volume.append(ts, ts - HORIZON)
        listed.append(ts, ts - HORIZON)
    end = times[-1]
    for days in (1, 7, 30):
        for hours_back in range(0, 48, 5):
            until = (end // H - hours_back) * H + H - 1e-3  # the last instant of an hour
            after = until - days * DAY
            assert volume.count(after, until) == listed.count(after, until), (days, hours_back)


def test_a_window_ending_inside_an_hour_counts_that_whole_hour() -> None:
    volume = EntityVolume()
    for ts in (T0 + 10, T0 + 1000, T0 + H + 5):
        volume.append(ts, T0 - HORIZON)
    assert volume.count(T0 - DAY, T0 + 20) == 2  # both payments of the hour T0 + 20 falls in
    assert volume.count(T0 + 20, T0 + H + 1) == 1  # from the end of T0's hour: the next hour's payment only
    assert volume.count(T0 + H + 1, T0 + 2 * DAY) == 0


def test_frauds_are_counted_by_the_same_hours_so_a_risk_stays_a_share() -> None:
    volume = EntityVolume()
    for ts in (T0 + 10, T0 + 1000, T0 + H + 5):
        volume.append(ts, T0 - HORIZON)
    volume.add_fraud(T0 + 1000, "x")
    volume.add_fraud(T0 + H + 5, "y")
    # a window ending at T0 + 20 holds both payments of that hour, so the fraud at T0 + 1000 is in it too
    assert (volume.frauds(T0 - DAY, T0 + 20), volume.count(T0 - DAY, T0 + 20)) == (1, 2)
    assert (volume.frauds(T0 + 20, T0 + H + 1), volume.count(T0 + 20, T0 + H + 1)) == (1, 1)
    rng = random.Random(3)
    times = _times(2_000, 20, seed=4)
    for ts in times:
        volume.append(ts, ts - HORIZON)
        if rng.random() < 0.2:
            volume.add_fraud(ts, f"f{ts}")
    for _ in range(500):
        after = T0 + rng.uniform(-DAY, 20 * DAY)
        until = after + rng.uniform(0, 10 * DAY)
        assert volume.frauds(after, until) <= volume.count(after, until)


def test_a_late_payment_joins_its_own_hour() -> None:
    volume = EntityVolume()
    for ts in (T0 + 5 * H, T0 + 7 * H, T0 + 2 * H):  # the last one from another partition, hours behind
        volume.append(ts, T0 - HORIZON)
    volume.append(T0 + 7 * H + 10, T0 - HORIZON)
    assert volume.hours == [T0 // H + 2, T0 // H + 5, T0 // H + 7]
    assert [volume.count(T0, T0 + k * H) for k in (2, 5, 7)] == [1, 2, 4]


def test_hours_past_the_horizon_are_forgotten_with_their_frauds() -> None:
    volume = EntityVolume()
    volume.append(T0, T0 - HORIZON)
    volume.add_fraud(T0, "old")
    later = T0 + HORIZON + 2 * H
    volume.append(later, later - HORIZON)
    assert volume.hours == [later // H] and volume.fraud_times == []
    assert volume.count(T0 - DAY, later) == 1


def test_replicas_add_counts_and_the_stored_row_round_trips() -> None:
    times = _times(300, 3, seed=5)
    one = EntityVolume()
    one.merge(times, [(times[3], "t3")], times[-1] - HORIZON)
    a, b = EntityVolume(), EntityVolume()
    a.merge(times[::2], [(times[3], "t3")], times[-1] - HORIZON)
    b.merge(times[1::2], [(times[3], "t3")], times[-1] - HORIZON)  # the same label from the other replica
    merged = EntityVolume.from_dict(json.loads(json.dumps(a.to_dict())))
    merged.merge(times[1::2], [(times[3], "t3")], times[-1] - HORIZON)
    assert merged.to_dict() == one.to_dict()
    assert merged.fraud_ids == ["t3"]


def test_a_row_stored_as_a_list_of_times_is_read_into_hours() -> None:
    times = _times(500, 5, seed=6)
    listed = EntityActivity()
    for ts in times:
        listed.append(ts, ts - HORIZON)
    listed.add_fraud(times[10], "t10")
    volume = EntityVolume.from_dict(listed.to_dict())
    assert volume.count(T0 - H, times[-1]) == len(times)
    assert (volume.fraud_times, volume.fraud_ids) == ([times[10]], ["t10"])
    assert "times" not in volume.to_dict()
    assert EntityVolume.from_dict({}).count(T0 - DAY, T0 + DAY) == 0  # an empty stored row


def test_merchant_and_category_risk_features_equal_the_exact_ones_on_hour_aligned_payments() -> None:
    """Payments on the hour: the hourly counts are exact, so the features are the ones a list of times gives."""
    e = FeatureEngine(FeatureConfig(label_delay_days=7))
    frauds = []
    for i in range(200):
        t = tx(f"p{i}", T0 + i * 2 * H, customer=f"c{i % 7}", terminal=f"t{i}", merchant=f"m{i % 3}", mcc="5411")
        e.process(t)
        if i % 10 == 0:
            frauds.append(t)
    for t in frauds:
        e.add_label(label(t, True, known_at=t.ts + 7 * DAY))
    row = e.process(tx("now", T0 + 200 * 2 * H + 7 * DAY, customer="c1", terminal="tx", merchant="m0",
                       mcc="5411"))
    # window (hi - 30 d, hi] with hi = now - 7 d: payments 0..199 (all inside), 20 of them fraud, 7 of them at m0
    assert f(row, "mcc_risk_30d_delayed") == pytest.approx(20 / 200)
    assert f(row, "merchant_risk_30d_delayed") == pytest.approx(7 / 67)


def test_a_customer_history_knows_its_payments_through_late_arrivals_expiry_and_the_store() -> None:
    h = CustomerHistory()
    for i in range(100):
        h.append(T0 + i * 3600.0, 10.0, tx_id=f"p{i}")
    assert h.has("p0") and h.has("p99") and not h.has("p100")
    h.append(T0 + 50.5 * 3600.0, 12.0, tx_id="late")  # arrives after later payments: inserted in place
    h.append(T0 + 100 * 3600.0, 11.0, tx_id="p100")
    assert h.has("late") and h.has("p100")
    h.expire(T0 + 80 * 3600.0)  # 81 payments fall out of the horizon and are dropped
    assert h.base == 0 and not h.has("p0") and not h.has("late") and h.has("p81") and h.has("p100")
    back = decode_customer(encode_customer(h))  # type: ignore[arg-type]
    assert back.has("p81") and not back.has("p80") and not back.has("p101")
