import math

import numpy as np
import pytest

from services.fraud.features import FEATURE_NAMES, HANDBOOK_FEATURES, FeatureConfig, FeatureEngine
from tests.unit.fraud.builders import DAY, T0, f, label, tx


def test_handbook_feature_set_has_the_fifteen_baseline_features() -> None:
    assert len(HANDBOOK_FEATURES) == 15
    assert FEATURE_NAMES[:15] == HANDBOOK_FEATURES


def test_customer_windows_include_the_current_transaction() -> None:
    e = FeatureEngine()
    e.process(tx("a", T0, 10.0))
    e.process(tx("b", T0 + 2 * DAY, 20.0))
    row = e.process(tx("c", T0 + 2 * DAY + 60, 30.0))
    assert f(row, "customer_nb_tx_1d") == 2  # b and c
    assert f(row, "customer_avg_amount_1d") == pytest.approx(25.0)
    assert f(row, "customer_nb_tx_7d") == 3
    assert f(row, "customer_avg_amount_7d") == pytest.approx(20.0)


def test_weekend_and_night_flags_use_utc_time() -> None:
    e = FeatureEngine()
    monday_night = e.process(tx("a", T0 + 6 * 3600 + 59 * 60))
    saturday_noon = e.process(tx("b", T0 + 5 * DAY + 12 * 3600, customer="c2"))
    assert (f(monday_night, "tx_during_weekend"), f(monday_night, "tx_during_night")) == (0.0, 1.0)
    assert (f(saturday_noon, "tx_during_weekend"), f(saturday_noon, "tx_during_night")) == (1.0, 0.0)


def test_terminal_risk_is_shifted_by_the_delay_and_uses_only_known_labels() -> None:
    e = FeatureEngine(FeatureConfig(label_delay_days=7))
    fraud = tx("a", T0, customer="c1")
    e.process(fraud)
    e.add_label(label(fraud, True, known_at=T0 + 7 * DAY))
    e.process(tx("b", T0 + 60, customer="c2"))
    # six days later: the fraud is inside no delayed window yet and its label is unknown
    early = e.process(tx("c", T0 + 6 * DAY, customer="c3"))
    assert f(early, "terminal_nb_tx_30d_delayed") == 0
    assert f(early, "terminal_risk_30d_delayed") == 0
    # seven and a half days later: both earlier transactions are in the shifted windows; one of two is fraud
    later = e.process(tx("d", T0 + 7.5 * DAY, customer="c4"))
    assert f(later, "terminal_nb_tx_1d_delayed") == 2
    assert f(later, "terminal_risk_1d_delayed") == pytest.approx(0.5)
    assert f(later, "terminal_risk_30d_delayed") == pytest.approx(0.5)


def test_feedback_label_raises_recent_terminal_risk_at_once() -> None:
    e = FeatureEngine()
    first = tx("a", T0, customer="c1")
    e.process(first)
    before = e.process(tx("b", T0 + 60, customer="c2"))
    e.add_label(label(first, True, known_at=T0 + 120))  # the customer answered "No, freeze my card"
    after = e.process(tx("c", T0 + 180, customer="c3"))
    assert f(before, "terminal_known_frauds_recent") == 0
    assert f(after, "terminal_known_frauds_recent") == 1
    assert f(after, "terminal_risk_recent") == pytest.approx(0.5)
    assert f(after, "terminal_days_since_first_known_fraud") == pytest.approx(180 / DAY)


def test_a_label_applies_once_even_if_it_arrives_twice() -> None:
    e = FeatureEngine()
    first = tx("a", T0)
    e.process(first)
    e.add_label(label(first, True, known_at=T0 + 1))
    e.add_label(label(first, True, known_at=T0 + 2))
    row = e.process(tx("b", T0 + 10, customer="c2"))
    assert f(row, "terminal_known_frauds_recent") == 1


def test_amount_against_own_history() -> None:
    e = FeatureEngine()
    for i, amount in enumerate((10.0, 12.0, 8.0, 10.0)):
        e.process(tx(str(i), T0 + i * 3600, amount))
    row = e.process(tx("big", T0 + 5 * 3600, 50.0))
    assert f(row, "amount_to_customer_mean_30d") == pytest.approx(5.0)
    assert f(row, "amount_to_customer_median_30d") == pytest.approx(5.0)
    assert f(row, "amount_zscore_30d") > 10
    first = FeatureEngine().process(tx("x", T0, 50.0))
    assert math.isnan(f(first, "amount_to_customer_mean_30d"))


def test_velocity_novelty_and_time_since_previous() -> None:
    e = FeatureEngine()
    e.process(tx("a", T0, terminal="t1"))
    e.process(tx("b", T0 + 100, terminal="t1"))
    row = e.process(tx("c", T0 + 400, terminal="t2"))
    assert f(row, "customer_nb_tx_10min") == 3
    assert f(row, "seconds_since_prev_tx") == 300
    assert f(row, "first_use_terminal") == 1
    again = e.process(tx("d", T0 + 4000, terminal="t2"))
    assert f(again, "first_use_terminal") == 0
    assert f(again, "customer_nb_tx_10min") == 1


def test_location_features_degrade_to_nan_without_a_location() -> None:
    e = FeatureEngine()
    e.process(tx("a", T0))
    row = e.process(tx("b", T0 + 60))
    for name in ("km_from_usual_area", "km_from_prev_tx", "kmh_from_prev_tx", "first_use_merchant",
                 "merchant_risk_30d_delayed", "mcc_risk_30d_delayed"):
        assert math.isnan(f(row, name)), name


def test_distance_from_usual_area_and_previous_transaction() -> None:
    e = FeatureEngine()
    e.process(tx("a", T0, x=10.0, y=10.0))
    e.process(tx("b", T0 + 3600, x=10.0, y=10.0))
    row = e.process(tx("c", T0 + 7200, x=13.0, y=14.0))
    assert f(row, "km_from_usual_area") == pytest.approx(5.0)
    assert f(row, "km_from_prev_tx") == pytest.approx(5.0)
    assert f(row, "kmh_from_prev_tx") == pytest.approx(5.0)


def test_old_history_leaves_the_windows() -> None:
    e = FeatureEngine()
    for i in range(100):
        e.process(tx(str(i), T0 + i * 60, 10.0))
    row = e.process(tx("late", T0 + 40 * DAY, 10.0))
    assert f(row, "customer_nb_tx_30d") == 1
    assert len(e.customers["c1"].times) <= 1


def _stream() -> list:
    return [tx(str(i), T0 + i * 1800, 5.0 + i % 7, customer=f"c{i % 3}", terminal=f"t{i % 4}",
               merchant=f"m{i % 2}", mcc="5411", x=float(i % 5), y=1.0) for i in range(60)]


def test_snapshot_restore_gives_the_same_features() -> None:
    stream = _stream()
    full = FeatureEngine()
    for t in stream[:50]:
        full.process(t)
    full.add_label(label(stream[10], True, known_at=stream[49].ts))
    restored = FeatureEngine.from_snapshot(full.snapshot())
    expected = full.process_batch(stream[50:])
    got = restored.process_batch(stream[50:])
    np.testing.assert_array_equal(np.nan_to_num(expected, nan=-1), np.nan_to_num(got, nan=-1))


def test_dirty_entries_persist_and_restore() -> None:
    stream = _stream()
    live = FeatureEngine(track_dirty=True)
    for t in stream[:50]:
        live.process(t)
    entries = live.drain_dirty()
    assert {kind for kind, _, _ in entries} == {"customer", "terminal", "merchant", "mcc"}
    assert live.drain_dirty() == []
    restarted = FeatureEngine()
    for kind, key, state in entries:
        restarted.load_entry(kind, key, state)
    np.testing.assert_array_equal(np.nan_to_num(live.process_batch(stream[50:]), nan=-1),
                                  np.nan_to_num(restarted.process_batch(stream[50:]), nan=-1))


def test_a_late_transaction_takes_its_place_in_time_and_sees_only_the_past() -> None:
    e = FeatureEngine()
    e.process(tx("a", T0 + 100, 10.0, terminal="shared"))
    e.process(tx("z", T0 + 200, 10.0, customer="c2", terminal="shared"))
    late = e.process(tx("late", T0, 30.0, terminal="shared"))  # from another partition, a moment behind
    assert f(late, "customer_nb_tx_10min") == 1
    assert f(late, "customer_avg_amount_1d") == pytest.approx(30.0)
    row = e.process(tx("b", T0 + 300, 20.0))
    assert f(row, "customer_nb_tx_10min") == 3
    assert f(row, "customer_avg_amount_1d") == pytest.approx(20.0)
    assert e.customers["c1"].times == sorted(e.customers["c1"].times)
    assert e.entities["terminal"]["shared"].times == [T0, T0 + 100, T0 + 200]


def test_last_five_labelled_risk_tells_a_compromised_terminal_from_one_stray_fraud() -> None:
    e = FeatureEngine(FeatureConfig(label_delay_days=7))
    txs = [tx(f"a{i}", T0 + i * 3600, customer=f"c{i}", terminal="stray") for i in range(5)]
    txs += [tx(f"b{i}", T0 + i * 3600 + 60, customer=f"d{i}", terminal="compromised") for i in range(5)]
    for t in sorted(txs, key=lambda t: t.ts):
        e.process(t)
        fraud = t.terminal_id == "compromised" or t.tx_id == "a4"
        e.add_label(label(t, fraud, known_at=t.ts + 7 * DAY))
    stray = e.process(tx("s", T0 + 8 * DAY, customer="x", terminal="stray"))
    hit = e.process(tx("h", T0 + 8 * DAY + 1, customer="y", terminal="compromised"))
    assert f(stray, "terminal_risk_last5_delayed") == pytest.approx(0.2)
    assert f(hit, "terminal_risk_last5_delayed") == pytest.approx(1.0)


def test_earlier_large_payments_mark_a_compromised_card_without_any_label() -> None:
    e = FeatureEngine()
    for i, amount in enumerate((10.0, 12.0, 8.0, 10.0, 11.0)):
        e.process(tx(str(i), T0 + i * 3600, amount))
    plain = e.process(tx("p", T0 + 6 * 3600, 10.0))
    # a steady spender: the spread is the floor (0.3 in logs); the 5th payment (11) was ln(1.1) / 0.3 above
    assert f(plain, "customer_large_payments_14d") == 0
    assert f(plain, "customer_max_surprise_14d") == pytest.approx(math.log(1.1) / 0.3)
    e.process(tx("x5", T0 + DAY, 50.0))  # five times the usual amount: counted from the next payment on
    e.process(tx("x2", T0 + DAY + 60, 20.0))  # about twice: more surprise, not a large payment
    row = e.process(tx("next", T0 + 2 * DAY, 11.0))
    assert f(row, "customer_large_payments_14d") == 1
    assert f(row, "customer_max_surprise_14d") == pytest.approx(math.log(5.0) / 0.3)
    gone = e.process(tx("later", T0 + 16 * DAY, 11.0))  # fourteen days on, the card pattern has left the window
    assert (f(gone, "customer_large_payments_14d"), f(gone, "customer_max_surprise_14d")) == (0, 0.0)
    first = FeatureEngine().process(tx("first", T0, 500.0))
    assert (f(first, "customer_large_payments_14d"), f(first, "customer_max_surprise_14d")) == (0, 0.0)
    assert math.isnan(f(first, "amount_surprise_30d"))


def test_amounts_are_judged_against_the_customers_own_spread() -> None:
    steady, heavy = FeatureEngine(), FeatureEngine()
    for i in range(12):  # 10 every time, against a heavy-tailed spender: 5 .. 160 (an eightfold spread)
        steady.process(tx(f"s{i}", T0 + i * 3600, 10.0))
        heavy.process(tx(f"h{i}", T0 + i * 3600, 5.0 * 2 ** (i % 6)))
    at_60 = (steady.process(tx("s", T0 + DAY, 60.0)), heavy.process(tx("h", T0 + DAY, 180.0)))
    # six times the median for both, but only the steady spender has never paid like that
    assert f(at_60[0], "amount_to_customer_median_30d") == pytest.approx(6.0)
    assert f(at_60[1], "amount_to_customer_median_30d") == pytest.approx(180 / 30.0)  # median 30
    assert f(at_60[0], "amount_surprise_30d") == pytest.approx(math.log(6.0) / 0.3)
    assert f(at_60[1], "amount_surprise_30d") < 1.5
    assert f(at_60[1], "customer_amount_spread_30d") == pytest.approx(math.log(80 / 10) / 1.349)
    next_heavy = heavy.process(tx("h2", T0 + DAY + 60, 20.0))
    assert f(next_heavy, "customer_large_payments_14d") == 0  # its 6x was not unusually large for it


def test_new_terminals_are_judged_against_the_customers_own_habit() -> None:
    e = FeatureEngine()
    for i in range(8):  # an online shopper: every other payment at a shop never used before
        e.process(tx(str(i), T0 + i * 3600, 10.0, terminal="home" if i % 2 else f"shop{i}"))
    row = e.process(tx("n", T0 + DAY, 10.0, terminal="new"))
    assert f(row, "first_use_terminal") == 1
    assert f(row, "customer_new_terminal_share_30d") == pytest.approx(5 / 8)  # shop0,2,4,6 and home's first


def test_large_payments_survive_a_late_arrival_and_a_restart() -> None:
    e = FeatureEngine()
    for i in range(5):
        e.process(tx(str(i), T0 + i * 3600, 10.0))
    e.process(tx("big", T0 + 10 * 3600, 40.0))
    e.process(tx("late", T0 + 9 * 3600, 45.0))  # another partition's clock: slots in before "big"
    cust = e.customers["c1"]
    assert cust.surprises == pytest.approx([0.0] * 5 + [math.log(4.5) / 0.3, math.log(4.0) / 0.3])
    assert cust.cum_high == [0, 0, 0, 0, 0, 0, 1, 2]
    state = cust.to_dict()
    restored = FeatureEngine()
    restored.load_entry("customer", "c1", state)
    before = {k: v for k, v in state.items() if k not in ("surprises", "novel")}  # persisted before they were kept
    old = FeatureEngine()
    old.load_entry("customer", "c1", before)
    probe = tx("probe", T0 + DAY, 10.0)
    assert f(restored.process(probe), "customer_large_payments_14d") == 2
    assert f(old.process(probe), "customer_large_payments_14d") == 0


def test_the_same_transaction_counts_once_even_after_a_restart() -> None:
    e = FeatureEngine(remember=10, track_dirty=True)
    for i in range(3):
        e.process(tx(str(i), T0 + i * 3600, 10.0))
    auth = tx("pay", T0 + 4 * 3600, 30.0)
    first = e.process(auth, join=False)  # scored at authorization (gRPC): the state is left as it was
    np.testing.assert_array_equal(e.process(auth, join=False), first)  # a retried authorization: the same
    np.testing.assert_array_equal(e.process(auth), first)  # the stream: the authorization's features, joins once
    np.testing.assert_array_equal(e.process(auth), first)  # seen again: nothing added
    restarted = FeatureEngine()  # no memory of recent features: only the persisted states
    for kind, key, state in e.drain_dirty():
        restarted.load_entry(kind, key, state)
    again = restarted.process(auth)  # the stream delivers the payment scored at authorization
    assert f(again, "customer_nb_tx_1d") == f(first, "customer_nb_tx_1d") + 1  # itself, already in the state
    for engine in (e, restarted):
        assert engine.customers["c1"].ids == ["0", "1", "2", "pay"]
        assert engine.entities["terminal"]["t1"].count(T0 - 1, T0 + DAY) == 4
    later = restarted.process(tx("next", T0 + 5 * 3600, 10.0))
    assert f(later, "customer_nb_tx_1d") == 5  # 0, 1, 2, pay and itself


def test_a_run_of_somewhat_unusual_payments_shows_in_the_sequence() -> None:
    e = FeatureEngine()
    for i in range(10):
        e.process(tx(str(i), T0 + i * 3600, 10.0))
    quiet = e.process(tx("q", T0 + DAY, 10.0))
    assert (f(quiet, "customer_surprise_last5_mean"), f(quiet, "customer_surprising_share_14d")) == (0.0, 0.0)
    for i in range(2):  # 1.7x twice: ln(1.7) / 0.3 = 1.77 spreads, each below "unusually large"
        e.process(tx(f"u{i}", T0 + DAY + (i + 1) * 3600, 17.0))
    row = e.process(tx("next", T0 + 2 * DAY, 10.0))
    assert f(row, "customer_large_payments_14d") == 0
    assert f(row, "customer_surprising_share_14d") == pytest.approx(2 / 13)
    assert f(row, "customer_surprise_last5_mean") == pytest.approx(2 * math.log(1.7) / 0.3 / 5)
    assert math.isnan(f(FeatureEngine().process(tx("first", T0)), "customer_surprise_last5_mean"))
