import datetime as dt
import json
from pathlib import Path

import pytest

from services.fraud.policy import FraudPolicy, load_policy
from services.fraud.verdict import Verdict
from services.platform.policy_book import PolicyFileError, PolicyNotInForceError

BASE = json.loads(Path("services/fraud/policy/fraud_policy.json").read_text())["versions"][0]


def test_shipped_policy_parses_with_ordered_thresholds() -> None:
    policy = load_policy(dt.date(2026, 12, 1))
    assert 0 < policy.challenge_threshold < policy.block_threshold <= 1
    assert {r.code for r in policy.rules} >= {"AMOUNT_OVER_LIMIT", "VELOCITY_10MIN", "HOT_TERMINAL"}


def test_version_in_force_is_chosen_by_effective_instant_and_none_before_the_first(tmp_path: Path) -> None:
    later = {**BASE, "version": "v2", "effective_from": "2027-01-01T00:00:00Z",
             "thresholds": {"challenge": 0.5, "block": 0.9}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"versions": [BASE, later]}))
    assert load_policy(dt.date(2026, 12, 31), path).version == BASE["version"]
    assert load_policy(dt.date(2027, 1, 1), path).challenge_threshold == 0.5
    with pytest.raises(PolicyNotInForceError):  # refused, not the earliest version silently
        load_policy(dt.date(2018, 4, 1), path)


@pytest.mark.parametrize(("patch", "field"), [
    ({"thresholds": {"challenge": 0.9, "block": 0.5}}, "thresholds: Value error, need 0 < challenge <= block <= 1"),
    ({"rules": [{"code": "X", "kind": "nope", "decision": "BLOCK", "text": ""}]}, "rules.0.kind"),
    ({"rules": [{"code": "X", "kind": "terminal_in", "decision": "MAYBE", "text": ""}]},
     "rules.0.decision: Value error, must be ALLOW, CHALLENGE or BLOCK"),
    ({"rules": [{"code": "X", "kind": "feature_at_least", "feature": "shoe_size", "decision": "BLOCK",
                 "text": ""}]}, "rules.0: Value error, feature: unknown feature 'shoe_size'"),
    ({"scored_channels": None}, "scored_channels"),
])
def test_invalid_policy_names_the_field(tmp_path: Path, patch: dict, field: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"versions": [{**BASE, **patch}]}))
    with pytest.raises(PolicyFileError) as err:
        load_policy(dt.date(2026, 12, 1), path)
    assert f"version {BASE['version']}: {field}" in str(err.value)


def test_rule_decisions_are_verdicts() -> None:
    rules = {r.code: r for r in load_policy(dt.date(2026, 12, 1)).rules}
    assert rules["HOT_TERMINAL"].decision is Verdict.BLOCK
    assert isinstance(load_policy(dt.date(2026, 12, 1)), FraudPolicy)
