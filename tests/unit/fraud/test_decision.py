import datetime as dt

import numpy as np

from services.fraud.decision import decide_batch, rule_hits, verdicts_for_scores
from services.fraud.explain import summary
from services.fraud.features import FEATURE_NAMES, FeatureEngine
from services.fraud.model import FraudModel, ModelCard
from services.fraud.policy import load_policy
from services.fraud.verdict import Verdict
from tests.unit.fraud.builders import T0, StubEstimator, tx

POLICY = load_policy(dt.date(2026, 12, 1))
NAMES = list(FEATURE_NAMES)


def stub_model(weights: dict[str, float], bias: float = -4.0) -> FraudModel:
    card = ModelCard(version="stub-1", algorithm="stub", features=NAMES, feature_config={},
                     training_window={}, metrics={}, created_at="")
    return FraudModel(StubEstimator(weights, NAMES, bias), card)


# score rises with the amount against the customer's usual amount and with a never-used terminal
MODEL = stub_model({"amount_to_customer_median_30d": 1.0, "first_use_terminal": 1.5})


def history_then(*last):
    engine = FeatureEngine()
    txs = [tx(str(i), T0 + i * 3600, 20.0, terminal="home") for i in range(10)]
    engine.process_batch(txs)
    return list(last), engine.process_batch(list(last))


def test_score_bands() -> None:
    below = np.nextafter(POLICY.challenge_threshold, 0)
    scores = np.array([0.0, below, POLICY.challenge_threshold, POLICY.block_threshold, 0.99])
    assert verdicts_for_scores(scores, POLICY) == [Verdict.ALLOW, Verdict.ALLOW, Verdict.CHALLENGE, Verdict.BLOCK,
                                                   Verdict.BLOCK]


def test_usual_transaction_is_allowed_without_reasons() -> None:
    txs, x = history_then(tx("n", T0 + 11 * 3600, 21.0, terminal="home"))
    [d] = decide_batch(MODEL, POLICY, txs, x)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == ()


def test_alert_names_the_top_factors_in_plain_words() -> None:
    txs, x = history_then(tx("n", T0 + 11 * 3600, 60.0, terminal="new"))
    [d] = decide_batch(MODEL, POLICY, txs, x)
    assert d.verdict in (Verdict.CHALLENGE, Verdict.BLOCK)
    codes = [r.code for r in d.reasons]
    assert codes[:2] == ["AMOUNT_VS_USUAL", "NEW_TERMINAL"]
    assert summary(d.reasons) == "3x your usual amount, at a terminal you have never used"
    assert all(r.weight > 0 for r in d.reasons)


def test_rules_raise_the_decision_but_never_lower_it() -> None:
    hot = POLICY.model_copy(update={"rules": tuple(
        r.model_copy(update={"ids": frozenset({"bad"})}) if r.code == "HOT_TERMINAL" else r for r in POLICY.rules)})
    txs, x = history_then(tx("n", T0 + 11 * 3600, 20.0, terminal="bad"))
    [d] = decide_batch(stub_model({}, bias=-10), hot, txs, x)
    assert d.verdict is Verdict.BLOCK
    assert d.reasons[0].code == "HOT_TERMINAL"


def test_amount_rule_formats_money_in_the_transaction_currency() -> None:
    t = tx("n", T0, 6000.0)
    [hits] = rule_hits([t], np.zeros((1, len(NAMES))), POLICY)
    assert [(r.code, reason.text) for r, reason in hits] == [
        ("AMOUNT_OVER_LIMIT", "a payment of €6,000.00, above the amount we always check with you")]


def test_frozen_card_is_blocked() -> None:
    txs, x = history_then(tx("n", T0 + 11 * 3600, 20.0, terminal="home", card="tok_1"))
    [d] = decide_batch(MODEL, POLICY, txs, x, frozen_cards={"tok_1"})
    assert d.verdict is Verdict.BLOCK
    assert d.reasons[0].code == "CARD_FROZEN"


def test_a_rule_and_a_model_factor_saying_the_same_thing_say_it_once() -> None:
    engine = FeatureEngine()
    engine.process_batch([tx(str(i), T0 + i * 3600, 20.0, terminal="home") for i in range(10)])
    burst = [tx(f"b{i}", T0 + 11 * 3600 + i * 60, 20.0, terminal="home") for i in range(6)]
    x = engine.process_batch(burst)
    velocity_model = stub_model({"customer_nb_tx_10min": 1.0})  # the model's factor is velocity too
    d = decide_batch(velocity_model, POLICY, burst, x)[-1]
    texts = [r.text for r in d.reasons]
    assert d.reasons[0].code == "VELOCITY_10MIN"  # the rule fired
    assert texts.count("6 card payments within 10 minutes") == 1
