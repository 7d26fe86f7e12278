"""Fraud decision policy as versioned data: score thresholds, rules, hot lists and explanation settings.

`policy/fraud_policy.json` holds every version with the date it takes effect; `load_policy(as_of)` returns the
version in force on a date. Changing a threshold is a data change with a new version and effective date.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.fraud.features import FEATURE_INDEX
from services.fraud.verdict import Verdict
from services.platform.errors import ValidationError

POLICY_FILE = Path(__file__).with_name("policy") / "fraud_policy.json"
RULE_KINDS = ("amount_at_least", "feature_at_least", "terminal_in", "merchant_in")


@dataclass(frozen=True)
class Rule:
    code: str
    kind: str
    decision: Verdict
    text: str
    feature: str = ""
    value: float = 0.0
    limits_minor: tuple[tuple[str, int], ...] = ()
    ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FraudPolicy:
    version: str
    effective_from: dt.date
    challenge_threshold: float
    block_threshold: float
    scored_channels: frozenset[str]
    max_reasons: int
    rules: tuple[Rule, ...]
    explain: dict[str, float]


def load_policy(as_of: dt.date | None = None, path: Path = POLICY_FILE) -> FraudPolicy:
    """The policy version in force on `as_of` (default: today, UTC)."""
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    versions = [parse_policy(v) for v in json.loads(path.read_text())["versions"]]
    in_force = [p for p in versions if p.effective_from <= as_of]
    if not in_force:
        # Replays of historical data (2018 Handbook dates) use the earliest version.
        return min(versions, key=lambda p: p.effective_from)
    return max(in_force, key=lambda p: p.effective_from)


def parse_policy(raw: dict[str, Any]) -> FraudPolicy:
    """Validate one policy version; raises ValidationError naming the bad field."""
    try:
        thresholds = raw["thresholds"]
        challenge, block = float(thresholds["challenge"]), float(thresholds["block"])
        effective = dt.date.fromisoformat(raw["effective_from"])
        rules = tuple(_parse_rule(r, i) for i, r in enumerate(raw.get("rules", [])))
        policy = FraudPolicy(
            version=str(raw["version"]), effective_from=effective, challenge_threshold=challenge,
            block_threshold=block, scored_channels=frozenset(raw["scored_channels"]),
            max_reasons=int(raw.get("max_reasons", 3)), rules=rules,
            explain={k: float(v) for k, v in raw.get("explain", {}).items()},
        )
    except KeyError as exc:
        raise ValidationError(f"policy.{exc.args[0]}", "is required") from exc
    if not 0.0 < challenge <= block <= 1.0:
        raise ValidationError("policy.thresholds", "need 0 < challenge <= block <= 1")
    return policy


def _parse_rule(raw: dict[str, Any], i: int) -> Rule:
    field = f"policy.rules[{i}]"
    kind = raw.get("kind", "")
    if kind not in RULE_KINDS:
        raise ValidationError(f"{field}.kind", f"must be one of {RULE_KINDS}")
    try:
        decision = Verdict[raw["decision"]]
    except KeyError as exc:
        raise ValidationError(f"{field}.decision", "must be ALLOW, CHALLENGE or BLOCK") from exc
    feature = raw.get("feature", "")
    if kind == "feature_at_least" and feature not in FEATURE_INDEX:
        raise ValidationError(f"{field}.feature", f"unknown feature {feature!r}")
    return Rule(code=raw["code"], kind=kind, decision=decision, text=raw["text"], feature=feature,
                value=float(raw.get("value", 0.0)),
                limits_minor=tuple(sorted((k, int(v)) for k, v in raw.get("limits_minor", {}).items())),
                ids=frozenset(raw.get("ids", [])))
