"""The backtest's report: what care would have reached whom, and when, scored against the truth derived from the
history. A figure the data cannot support is `"not measured"` with the reason, never 0."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.advice.offline.evaluation import score as score_shortfalls
from services.advice.repository import AdviceRepository
from services.advice.rules.shortfall import TYPE as SHORTFALL
from services.backtest.history import History
from services.backtest.replay import Replayed
from services.backtest.truth import Truth
from services.gen.proactivecare.v1 import events_pb2
from services.mortgage.offline import evaluation as care
from services.mortgage.offline.replay import offers_of
from services.platform import enums


def not_measured(why: str) -> dict[str, str]:
    return {"not_measured": why}


@dataclass
class Series:
    """What the plots need beyond the figures (not written to report.json)."""

    lead_hours: list[float] = field(default_factory=list)
    per_customer_per_week: list[float] = field(default_factory=list)
    weekly: dict[str, dict[str, int]] = field(default_factory=dict)   # ISO week start -> kind -> notifications
    precision_recall: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))  # recall, precision


def build(history: History, transactions: list[events_pb2.Transaction], truth: Truth, replayed: Replayed,
          series: Series | None = None) -> dict[str, Any]:
    series = series if series is not None else Series()
    _fill(series, transactions, replayed)
    return {
        "input": {"transactions": len(history.transactions), "profiles": len(history.profiles),
                  "fraud_labels": len(history.fraud_labels), "bad_rows": len(history.bad_rows),
                  "bad_rows_by_reason": dict(Counter(f"{b.field}: {b.reason}" for b in history.bad_rows)),
                  "customers": len({t.customer_id for t in transactions}), "weeks": _weeks(transactions)},
        "shortfall": _shortfall(truth, replayed, series),
        "care": _care(truth, replayed),
        "fraud": _fraud(transactions, truth, replayed, series),
        "notifications": _notifications(transactions, replayed),
        "services_not_run": replayed.not_run,
        "replayed": replayed.path,
    }


def _weeks(transactions: list[events_pb2.Transaction]) -> float:
    if not transactions:
        return 0.0
    seconds = transactions[-1].timestamp.seconds - transactions[0].timestamp.seconds
    return round(max(seconds / (7 * 86_400), 1 / 7), 2)


def _shortfall(truth: Truth, replayed: Replayed, series: Series) -> dict[str, Any]:
    if not truth.overdraft_measured:
        return not_measured("no transaction carries balance_after: overdrafts cannot be seen")
    with replayed.stores["advice"].read() as tx:
        nudges = [(n.customer_id, n.created_at.ToDatetime(tzinfo=UTC))
                  for n in AdviceRepository(tx).find_nudges((SHORTFALL,))]
    return score_shortfalls(nudges, truth.overdraft_episodes, leads_out=series.lead_hours)


def _care(truth: Truth, replayed: Replayed) -> dict[str, Any]:
    if not truth.mortgage_holders:
        why = ("no profile holds a mortgage" if not truth.mortgage_not_measured else
               f"{len(truth.mortgage_not_measured)} mortgage holders, but the feed carries no MORTGAGE_PAYMENT debit")
        return not_measured(why)
    offers = offers_of(replayed.stores["mortgage"])
    first = truth.first_missed
    figures = care.score([o for o in offers if o.customer_id in truth.mortgage_holders],
                         care.Truth(first, truth.missed_payments, set(), truth.mortgage_holders))
    figures.pop("by_pay_rhythm", None)  # the history carries no pay-rhythm truth
    figures.pop("false_offer_customers", None)
    figures["mortgage_holders_not_measured"] = len(truth.mortgage_not_measured)
    return figures


def _fraud(transactions: list[events_pb2.Transaction], truth: Truth, replayed: Replayed, series: Series,
           ) -> dict[str, Any]:
    if "fraud" in replayed.not_run:
        return not_measured(f"the fraud service did not run: {replayed.not_run['fraud']}")
    with replayed.stores["fraud"].read() as tx:
        alerted = {row[0] for row in tx.all("SELECT transaction_id FROM fraud_alerts")}
    cards = [t for t in transactions if t.card_token]
    labels = truth.fraud_labels
    genuine = [t for t in cards if not labels.get(t.id, False)]
    figures: dict[str, Any] = {
        "card_payments": len(cards), "alerts": len(alerted),
        "alerts_per_1000_genuine_card_payments": round(
            1000 * sum(t.id in alerted for t in genuine) / len(genuine), 2) if genuine else 0.0,
        "customers_alerted": len({t.customer_id for t in cards if t.id in alerted}),
    }
    if not labels:
        figures["quality"] = not_measured("no fraud labels (a `fraud` column or `fraud_label` lines)")
        return figures
    frauds = [t for t in cards if labels.get(t.id, False)]
    by_card: dict[str, list[events_pb2.Transaction]] = {}
    for t in cards:
        by_card.setdefault(t.card_token, []).append(t)
    compromised = {t.card_token for t in frauds}
    by_2nd = 0
    for card in compromised:
        its_frauds = [t for t in by_card[card] if labels.get(t.id, False)]
        second = its_frauds[min(1, len(its_frauds) - 1)].timestamp.seconds
        by_2nd += any(t.id in alerted and t.timestamp.seconds <= second for t in by_card[card])
    figures.update({
        "frauds": len(frauds), "compromised_cards": len(compromised),
        "fraud_recall": round(sum(t.id in alerted for t in frauds) / len(frauds), 4) if frauds else None,
        "alert_precision": round(sum(labels.get(i, False) for i in alerted) / len(alerted), 4) if alerted else None,
        "cards_alerted_by_2nd_fraud": round(by_2nd / len(compromised), 4) if compromised else None,
    })
    figures.update(_ranking(replayed.fraud_scores, labels, series))
    return figures


def _ranking(scores: dict[str, float], labels: dict[str, bool], series: Series) -> dict[str, Any]:
    """AUC and average precision of the model's scores over the scored card payments (an unlabelled payment is
    genuine, as in the book's protocol)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    ids = sorted(scores)
    truth = [labels.get(i, False) for i in ids]
    if not ids or all(truth) or not any(truth):
        return {"ranking": not_measured("the scored card payments hold only one class")}
    values = [scores[i] for i in ids]
    precision, recall, _ = precision_recall_curve(truth, values)
    series.precision_recall = (list(map(float, recall)), list(map(float, precision)))
    return {"scored_card_payments": len(ids), "auc": round(float(roc_auc_score(truth, values)), 4),
            "average_precision": round(float(average_precision_score(truth, values)), 4)}


def _notifications(transactions: list[events_pb2.Transaction], replayed: Replayed) -> dict[str, Any]:
    customers = len({t.customer_id for t in transactions}) or 1
    weeks = _weeks(transactions) or 1.0
    outcomes = Counter(replayed.routed.values())
    total = len(replayed.notifications)
    by_kind = Counter(enums.short_name(events_pb2.NotificationKind, n.kind) for n in replayed.notifications)
    return {
        "total": total, "by_kind": dict(sorted(by_kind.items())),
        "per_customer_per_week": round(total / customers / weeks, 3),
        "routing": dict(sorted(outcomes.items())),
        "held_quiet_hours_share": round(outcomes["held_quiet_hours"] / total, 4) if total else 0.0,
        "dropped_by_caps_share": round(outcomes["dropped_cap"] / total, 4) if total else 0.0,
        "advisor_tasks": len(replayed.advisor_tasks),
        "first": _iso(min((n.created_at.seconds for n in replayed.notifications), default=None)),
        "last": _iso(max((n.created_at.seconds for n in replayed.notifications), default=None)),
    }


def _fill(series: Series, transactions: list[events_pb2.Transaction], replayed: Replayed) -> None:
    weeks = _weeks(transactions) or 1.0
    per_customer = Counter(n.customer_id for n in replayed.notifications)
    series.per_customer_per_week = [per_customer.get(c, 0) / weeks for c in {t.customer_id for t in transactions}]
    for n in replayed.notifications:
        day = datetime.fromtimestamp(n.created_at.seconds, UTC).date()
        week = (day - timedelta(days=day.weekday())).isoformat()
        kind = enums.short_name(events_pb2.NotificationKind, n.kind)
        series.weekly.setdefault(week, Counter())[kind] += 1


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()
