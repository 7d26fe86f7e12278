from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.advice.bandit import Context, LinUCB, balance_band
from services.advice.ranking import Fatigue, rank, record_response, record_sent
from services.advice.rules import Candidate
from tests.unit.advice.builders import policy

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
YOUNG_LOW = Context("young", 1)


def candidate(nudge_type: str) -> Candidate:
    return Candidate(type=nudge_type, subject="s", title="t", body="b", reasons=())


def test_repeated_not_helpful_lowers_that_nudges_rank_for_similar_customers() -> None:
    p = policy()
    bandit = LinUCB(p.ranking)
    before = bandit.score("SPENDING_SPIKE", YOUNG_LOW)
    for _ in range(10):  # ten young, low-balance customers say "not helpful"
        bandit.update("SPENDING_SPIKE", YOUNG_LOW, p.ranking.rewards["NOT_HELPFUL"])
    after = bandit.score("SPENDING_SPIKE", YOUNG_LOW)
    assert after < before
    # ... and a similar (young, low balance) customer now sees another type ranked first
    ranked = rank([candidate("SPENDING_SPIKE"), candidate("IDLE_CASH")], YOUNG_LOW, bandit, {}, p, NOW)
    assert [r.candidate.type for r in ranked] == ["IDLE_CASH", "SPENDING_SPIKE"]
    assert ranked[0].sent and not ranked[1].sent
    # customers in another segment are barely affected: it still outranks IDLE_CASH for them
    other = Context("affluent", 3)
    ranked_other = rank([candidate("SPENDING_SPIKE"), candidate("IDLE_CASH")], other, bandit, {}, p, NOW)
    assert bandit.score("SPENDING_SPIKE", other) > after
    assert ranked_other[0].score > ranked[1].score


def test_helpful_answers_raise_the_rank() -> None:
    p = policy()
    bandit = LinUCB(p.ranking)
    for _ in range(10):
        bandit.update("LOW_BALANCE", YOUNG_LOW, p.ranking.rewards["HELPFUL"])
    mean, bonus = bandit.propensity("LOW_BALANCE", YOUNG_LOW)
    assert mean > p.ranking.prior_propensity
    untried_mean, untried_bonus = bandit.propensity("FEE_CHARGED", YOUNG_LOW)
    assert untried_mean == p.ranking.prior_propensity and untried_bonus > bonus  # exploration bonus shrinks


def test_the_bandit_state_survives_json() -> None:
    import json

    p = policy()
    bandit = LinUCB(p.ranking)
    bandit.update("FEE_CHARGED", YOUNG_LOW, 1.0)
    restored = LinUCB(p.ranking, json.loads(json.dumps(bandit.to_dict())))
    assert restored.score("FEE_CHARGED", YOUNG_LOW) == bandit.score("FEE_CHARGED", YOUNG_LOW)
    assert restored.observations("FEE_CHARGED") == 1


def test_repeated_rejects_suppress_the_type_for_a_while() -> None:
    p = policy()
    fatigue = Fatigue()
    for i in range(p.ranking.reject_limit):
        assert not fatigue.suppressed(NOW), f"not yet suppressed after {i} rejects"
        fatigue = record_response(fatigue, "NOT_HELPFUL", NOW, p.ranking)
    assert fatigue.suppressed(NOW)
    ranked = rank([candidate("LOW_BALANCE")], YOUNG_LOW, LinUCB(p.ranking), {"LOW_BALANCE": fatigue}, p, NOW)
    assert (ranked[0].sent, ranked[0].why) == (False, "SUPPRESSED")
    later = NOW + timedelta(days=p.ranking.suppress_days, seconds=1)
    assert not fatigue.suppressed(later)
    assert rank([candidate("LOW_BALANCE")], YOUNG_LOW, LinUCB(p.ranking), {"LOW_BALANCE": fatigue}, p, later)[0].sent


def test_a_positive_answer_resets_the_reject_streak() -> None:
    p = policy()
    fatigue = Fatigue()
    for response in ["DISMISSED", "NOT_HELPFUL", "HELPFUL", "NOT_HELPFUL", "DISMISSED"]:
        fatigue = record_response(fatigue, response, NOW, p.ranking)
    assert not fatigue.suppressed(NOW) and fatigue.reject_streak == 2


def test_novelty_decays_with_each_recent_send() -> None:
    p = policy()
    fatigue = Fatigue()
    fresh = rank([candidate("FEE_CHARGED")], YOUNG_LOW, LinUCB(p.ranking), {}, p, NOW)[0].score
    for _ in range(3):
        fatigue = record_sent(fatigue, NOW, p.ranking)
    tired = rank([candidate("FEE_CHARGED")], YOUNG_LOW, LinUCB(p.ranking), {"FEE_CHARGED": fatigue}, p, NOW)[0].score
    assert abs(tired - fresh * p.ranking.novelty_decay**3) < 1e-9
    much_later = NOW + timedelta(days=p.ranking.novelty_window_days + 1)
    assert rank([candidate("FEE_CHARGED")], YOUNG_LOW, LinUCB(p.ranking), {"FEE_CHARGED": fatigue}, p,
                much_later)[0].score == fresh


def test_only_the_budget_of_nudges_is_sent_per_evaluation() -> None:
    p = policy()
    ranked = rank([candidate(t) for t in ("FEE_CHARGED", "PROJECTED_SHORTFALL", "SPENDING_SPIKE")], YOUNG_LOW,
                  LinUCB(p.ranking), {}, p, NOW)
    assert sum(r.sent for r in ranked) == p.ranking.max_sent_per_evaluation
    assert ranked[0].candidate.type == "PROJECTED_SHORTFALL"  # the highest business value wins a cold start


def test_balance_bands() -> None:
    p = policy()
    balances = (None, -1, 0, 49_999, 50_000, 499_999, 500_000)
    assert [balance_band(b, p.ranking) for b in balances] == [0, 0, 1, 1, 2, 2, 3]


def _sent(*days_ago: int) -> Fatigue:
    return Fatigue(sent=[NOW - timedelta(days=d) for d in days_ago])


def test_the_weekly_budget_keeps_its_last_slot_for_a_high_priority_nudge() -> None:
    p = policy()   # budget: 3 a week, 7 in 30 days, the last two kept for HIGH priority (a shortfall, late pay)
    assert (p.ranking.budget.per_week, p.ranking.budget.high_priority_reserve) == (3, 2)
    bandit = LinUCB(p.ranking)
    fatigue = {"SPENDING_SPIKE": _sent(2)}
    [low] = rank([candidate("SPENDING_SPIKE")], YOUNG_LOW, bandit, fatigue, p, NOW)
    assert (low.sent, low.why) == (False, "BUDGET_WEEK")
    [high] = rank([candidate("PROJECTED_SHORTFALL")], YOUNG_LOW, bandit, fatigue, p, NOW)
    assert (high.sent, high.why) == (True, "SELECTED")
    fatigue["PROJECTED_SHORTFALL"] = _sent(1)
    [second] = rank([candidate("PROJECTED_SHORTFALL")], YOUNG_LOW, bandit, fatigue, p, NOW)
    assert second.sent   # a shortfall warning after another one this week still goes out
    fatigue["PROJECTED_SHORTFALL"] = _sent(1, 3)
    [spent] = rank([candidate("PROJECTED_SHORTFALL")], YOUNG_LOW, bandit, fatigue, p, NOW)
    assert (spent.sent, spent.why) == (False, "BUDGET_WEEK")


def test_the_monthly_budget_counts_every_type_over_30_days() -> None:
    p = policy()
    fatigue = {"SPENDING_SPIKE": _sent(8, 12, 20), "LOW_BALANCE": _sent(22, 29), "IDLE_CASH": _sent(31, 40)}
    [r] = rank([candidate("FEE_CHARGED")], YOUNG_LOW, LinUCB(p.ranking), fatigue, p, NOW)
    assert (r.sent, r.why) == (False, "BUDGET_MONTH")   # 5 in 30 days, the 6th and 7th kept for HIGH priority
    [r] = rank([candidate("INCOME_LATE")], YOUNG_LOW, LinUCB(p.ranking), fatigue, p, NOW)
    assert r.sent


def test_the_budget_goes_to_the_highest_expected_value_first() -> None:
    p = policy()
    bandit = LinUCB(p.ranking)
    low_confidence = Candidate(type="LOW_BALANCE", subject="s", title="t", body="b", reasons=(), confidence=0.2)
    ranked = rank([low_confidence, candidate("SPENDING_SPIKE")], YOUNG_LOW, bandit, {}, p, NOW)
    assert [(r.candidate.type, r.sent) for r in ranked] == [("SPENDING_SPIKE", True), ("LOW_BALANCE", False)]
