"""From features to a decision: one model call for the batch, policy rules beside it, reasons for each alert.

score >= block threshold -> BLOCK; >= challenge threshold -> CHALLENGE; else ALLOW. A rule can only raise the
decision (a hot-listed terminal blocks whatever the score). A frozen card is always blocked.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from services.fraud.events import TxEvent
from services.fraud.explain import Reason, explain_batch
from services.fraud.features import FEATURE_INDEX
from services.fraud.model import FraudModel
from services.fraud.policy import FraudPolicy, Rule
from services.fraud.verdict import Verdict
from services.platform.money import format_money

CARD_FROZEN = Reason("CARD_FROZEN", "your card is frozen", 1.0)


@dataclass(frozen=True)
class FraudDecision:
    tx_id: str
    score: float
    verdict: Verdict
    reasons: tuple[Reason, ...]
    model_version: str
    policy_version: str

    @property
    def alerts(self) -> bool:
        return self.verdict != Verdict.ALLOW


def verdict_for_score(score: float, policy: FraudPolicy) -> Verdict:
    if score >= policy.block_threshold:
        return Verdict.BLOCK
    if score >= policy.challenge_threshold:
        return Verdict.CHALLENGE
    return Verdict.ALLOW


def rule_hits(tx: TxEvent, row: np.ndarray, policy: FraudPolicy) -> list[tuple[Rule, Reason]]:
    """The policy rules this transaction trips, each with its reason."""
    hits = []
    for rule in policy.rules:
        text = None
        if rule.kind == "amount_at_least":
            limit = dict(rule.limits_minor).get(tx.currency)
            if limit is not None and tx.amount_minor >= limit:
                text = rule.text.format(amount=format_money(tx.amount_minor, tx.currency))
        elif rule.kind == "feature_at_least":
            value = float(row[FEATURE_INDEX[rule.feature]])
            if value >= rule.value:
                text = rule.text.format(value=value)
        elif rule.kind == "terminal_in":
            text = rule.text if tx.terminal_id in rule.ids else None
        elif rule.kind == "merchant_in":
            text = rule.text if tx.merchant_id and tx.merchant_id in rule.ids else None
        if text is not None:
            hits.append((rule, Reason(rule.code, text, 1.0)))
    return hits


def decide_batch(model: FraudModel, policy: FraudPolicy, txs: Sequence[TxEvent], features: np.ndarray,
                 frozen_cards: Collection[str] = ()) -> list[FraudDecision]:
    """Decisions for a batch: one model call for the scores, one more for the alerts' explanations."""
    scores = model.score(features)
    verdicts: list[Verdict] = []
    rule_reasons: list[list[Reason]] = []
    for tx, row, score in zip(txs, features, scores, strict=True):
        hits = rule_hits(tx, row, policy)
        verdict = max([verdict_for_score(float(score), policy), *(rule.decision for rule, _ in hits)])
        reasons = [reason for _, reason in hits]
        if tx.card_token and tx.card_token in frozen_cards:
            verdict = Verdict.BLOCK
            reasons.insert(0, CARD_FROZEN)
        verdicts.append(verdict)
        rule_reasons.append(reasons)
    alerted = [i for i, v in enumerate(verdicts) if v != Verdict.ALLOW]
    explained = explain_batch(model, features, scores, txs, alerted, policy.explain, policy.max_reasons)
    decisions = []
    for i, tx in enumerate(txs):
        # a rule and a model factor can say the same thing ("6 card payments within 10 minutes"): say it once
        said = {x.code for x in rule_reasons[i]} | {x.text for x in rule_reasons[i]}
        reasons = rule_reasons[i] + [r for r in explained.get(i, []) if r.code not in said and r.text not in said]
        decisions.append(FraudDecision(tx.tx_id, round(float(scores[i]), 6), verdicts[i],
                                       tuple(reasons[: max(policy.max_reasons, len(rule_reasons[i]))]),
                                       model.version, policy.version))
    return decisions
