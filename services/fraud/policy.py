"""Fraud decision policy as versioned data (the kernel's policy book): score thresholds, rules, hot lists and
explanation settings.

`policy/fraud_policy.json` holds every version with the instant it takes effect; `load_policy(as_of)` returns the
version in force then (default: now), and refuses an instant before the first version. Changing a threshold is
a data change with a new version and effective instant, validated on load (the error names the field).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from services.fraud.features import FEATURE_INDEX
from services.fraud.verdict import Verdict
from services.platform.clock import utc_now
from services.platform.policy_book import PolicyBook, PolicyVersion

POLICY_FILE = Path(__file__).with_name("policy") / "fraud_policy.json"
RULE_KINDS = ("amount_at_least", "feature_at_least", "terminal_in", "merchant_in")


def _verdict(value: object) -> Verdict:
    if isinstance(value, Verdict):
        return value
    try:
        return Verdict[str(value)]
    except KeyError:
        raise ValueError("must be ALLOW, CHALLENGE or BLOCK") from None


VerdictName = Annotated[Verdict, BeforeValidator(_verdict), WithJsonSchema({"enum": [v.name for v in Verdict]})]


class Rule(BaseModel):
    """A rule that raises the decision whatever the score (in the policy's order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="the reason code the customer's app and the advisor see")
    kind: Literal["amount_at_least", "feature_at_least", "terminal_in", "merchant_in"]
    decision: VerdictName
    text: str = Field(description="the plain-language reason; {amount} / {value} are filled in")
    feature: str = Field("", description="feature_at_least: the feature compared")
    value: float = Field(0.0, description="feature_at_least: the threshold")
    limits_minor: dict[str, int] = Field(default_factory=dict, description="amount_at_least: per currency")
    ids: frozenset[str] = Field(frozenset(), description="terminal_in / merchant_in: the hot list")

    @model_validator(mode="after")
    def _known_feature(self) -> Rule:
        if self.kind == "feature_at_least" and self.feature not in FEATURE_INDEX:
            raise ValueError(f"feature: unknown feature {self.feature!r}")
        return self


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    challenge: float = Field(description="score at and above which the customer is asked")
    block: float = Field(description="score at and above which the payment is declined")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not 0.0 < self.challenge <= self.block <= 1.0:
            raise ValueError("need 0 < challenge <= block <= 1")
        return self


class Promotion(BaseModel):
    """When a retrained challenger takes over from the champion (`offline/retraining.py`, `promotion.py`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evaluation_days: int = Field(7, gt=0, description="the last N days with complete labels both models are "
                                                      "compared on (held out of the challenger's training)")
    training_days: int = Field(14, gt=0, description="labelled days before those the challenger is trained on")
    metric: Literal["average_precision", "roc_auc"] = Field(
        "average_precision", description="what the comparison measures on the evaluation days")
    margin: float = Field(0.02, ge=0.0, description="the challenger must beat the champion by at least this")
    min_labelled: int = Field(500, gt=0, description="scored payments needed in the evaluation days")
    min_frauds: int = Field(10, gt=0, description="known frauds needed in the evaluation days, and in training")


class FraudPolicy(PolicyVersion):
    description: str = ""
    thresholds: Thresholds
    scored_channels: frozenset[str] = Field(description="channels (short names) the model scores")
    max_reasons: int = Field(3, gt=0, description="reasons given with an alert")
    rules: tuple[Rule, ...] = ()
    explain: dict[str, float] = Field(default_factory=dict, description="when a feature is worth a reason")
    promotion: Promotion = Field(default_factory=Promotion, description="champion and challenger: when to promote")

    @property
    def challenge_threshold(self) -> float:
        return self.thresholds.challenge

    @property
    def block_threshold(self) -> float:
        return self.thresholds.block


@cache
def policy_book(path: Path = POLICY_FILE) -> PolicyBook[FraudPolicy]:
    return PolicyBook.load(path, FraudPolicy)


def load_policy(as_of: dt.date | dt.datetime | None = None, path: Path = POLICY_FILE) -> FraudPolicy:
    """The policy version in force at `as_of` (a date means its start, UTC; default: now)."""
    if as_of is None:
        instant = utc_now()
    elif isinstance(as_of, dt.datetime):
        instant = as_of
    else:
        instant = dt.datetime.combine(as_of, dt.time(), dt.UTC)
    return policy_book(path).at(instant)
