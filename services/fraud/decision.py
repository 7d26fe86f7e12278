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

_VERDICTS = {v.value: v for v in Verdict}  # Verdict(n) goes through the enum machinery: slow per row
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


def verdicts_for_scores(scores: np.ndarray, policy: FraudPolicy) -> list[Verdict]:
    """The score bands: >= block -> BLOCK, >= challenge -> CHALLENGE, else ALLOW."""
    bands = np.select([scores >= policy.block_threshold, scores >= policy.challenge_threshold],
                      [Verdict.BLOCK.value, Verdict.CHALLENGE.value], Verdict.ALLOW.value)
    return [_VERDICTS[v] for v in bands.tolist()]


def rule_hits(txs: Sequence[TxEvent], features: np.ndarray, policy: FraudPolicy) -> list[list[tuple[Rule, Reason]]]:
    """For each transaction of a batch, the policy rules it trips (in the policy's order), each with its reason.
    Feature rules compare a whole column at once: a rule costs nothing for the rows it does not hit."""
    hits: list[list[tuple[Rule, Reason]]] = [[] for _ in txs]
    for rule in policy.rules:
        if rule.kind == "amount_at_least":
            limits = dict(rule.limits_minor)
            for i, tx in enumerate(txs):
                limit = limits.get(tx.currency)
                if limit is not None and tx.amount_minor >= limit:
                    text = rule.text.format(amount=format_money(tx.amount_minor, tx.currency))
                    hits[i].append((rule, Reason(rule.code, text, 1.0)))
        elif rule.kind == "feature_at_least":
            column = features[:, FEATURE_INDEX[rule.feature]]
            for i in np.flatnonzero(column >= rule.value):
                hits[i].append((rule, Reason(rule.code, rule.text.format(value=float(column[i])), 1.0)))
        elif rule.kind in ("terminal_in", "merchant_in") and rule.ids:
            for i, tx in enumerate(txs):
                key = tx.terminal_id if rule.kind == "terminal_in" else tx.merchant_id
                if key and key in rule.ids:
                    hits[i].append((rule, Reason(rule.code, rule.text, 1.0)))
    return hits


def decide_batch(model: FraudModel, policy: FraudPolicy, txs: Sequence[TxEvent], features: np.ndarray,
                 frozen_cards: Collection[str] = ()) -> list[FraudDecision]:
    """Decisions for a batch: one model call for the scores, one more for the alerts' explanations."""
    scores = model.score(features)
    verdicts = verdicts_for_scores(scores, policy)
    rule_reasons: list[list[Reason]] = []
    for i, (tx, hits) in enumerate(zip(txs, rule_hits(txs, features, policy), strict=True)):
        reasons = [reason for _, reason in hits]
        if hits:
            verdicts[i] = max([verdicts[i], *(rule.decision for rule, _ in hits)])
        if tx.card_token and tx.card_token in frozen_cards:
            verdicts[i] = Verdict.BLOCK
            reasons.insert(0, CARD_FROZEN)
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
