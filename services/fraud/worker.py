"""The fraud stream handler: `transactions` are scored a poll batch at a time (one model call); CHALLENGE and
BLOCK store an alert (id derived from the transaction id) and notify the customer on `notifications`.
`fraud-feedback` answers teach terminal / merchant risk at once. The feature state the batch changed is
written in the batch's own store transaction, so a restart resumes exactly where the committed offsets are."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from services.fraud.alerts import AlertStatus, resolve
from services.fraud.messages import (
    is_card_debit,
    label_from_feedback,
    new_alert,
    notification,
    to_event,
    validate_feedback,
)
from services.fraud.metrics import FraudMetrics
from services.fraud.repository import FraudRepository
from services.fraud.scoring import FraudScorer
from services.gen.proactivecare.v1 import events_pb2
from services.platform import streams
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.topics import FRAUD_FEEDBACK, NOTIFICATIONS, TRANSACTIONS


def sources(settings: Settings) -> list[Source]:
    return [
        streams.transactions(settings),
        Source(settings.topic(FRAUD_FEEDBACK), events_pb2.FraudFeedback.FromString, validate_feedback),
    ]


class FraudHandler:
    def __init__(self, settings: Settings, scorer: FraudScorer, repo: FraudRepository, metrics: FraudMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.scorer = scorer
        self.repo = repo
        self.metrics = metrics
        self.clock = clock
        self.transactions_topic = settings.topic(TRANSACTIONS)
        self.notifications_topic = settings.topic(NOTIFICATIONS)

    def handle(self, records: list[Record], tx: sqlite3.Connection) -> Mapping[str, Sequence[Output]]:
        card_records = []
        for record in records:
            if record.topic == self.transactions_topic:
                if is_card_debit(record.value, self.scorer.policy.scored_channels):
                    card_records.append(record)
            else:
                self._learn(record.value, tx)
        outputs = self._score(card_records, tx) if card_records else {}
        self.repo.save_feature_state(tx, self.scorer.drain_state())
        return outputs

    def _score(self, records: list[Record], tx: sqlite3.Connection) -> dict[str, list[Output]]:
        events = [to_event(r.value) for r in records]
        frozen = self.repo.frozen_among((e.card_token for e in events), tx)
        started = time.perf_counter()
        decisions = self.scorer.score(events, frozen)
        self.metrics.scoring_seconds.labels("stream").observe(time.perf_counter() - started)
        self.metrics.batch_size.labels("stream").observe(len(events))
        self.metrics.count_decisions("stream", decisions)
        now = self.clock()
        outputs: dict[str, list[Output]] = {}
        for record, event, decision in zip(records, events, decisions, strict=True):
            if not decision.alerts:
                continue
            alert = new_alert(record.value, event, decision, now)
            if self.repo.add_alert(tx, alert):
                self.metrics.alerts.labels(decision.verdict.name).inc()
                note = notification(alert, decision, record.timestamp_ms)
                outputs[record.event_id] = [Output(self.notifications_topic, alert.customer_id,
                                                   note.SerializeToString())]
        return outputs

    def _learn(self, fb: events_pb2.FraudFeedback, tx: sqlite3.Connection) -> None:
        """An answer to an alert (from this or another replica) or a chargeback (no alert id): learn the label.
        The card is frozen when the customer answered "No, freeze my card"; a chargeback comes days later and
        the card's reissue is the issuer's business, so it only teaches."""
        alert = self.repo.get_alert(fb.alert_id, tx) if fb.alert_id else None
        self.scorer.learn([label_from_feedback(fb, alert.mcc if alert else "")])
        self.metrics.feedback.labels("fraud" if fb.confirmed_fraud else "genuine").inc()
        if fb.confirmed_fraud and fb.alert_id:
            self.repo.freeze_card(tx, fb.card_token, fb.customer_id, fb.alert_id, self.clock())
        if alert is not None and alert.status == AlertStatus.OPEN:
            updated, _ = resolve(alert, fb.confirmed_fraud, self.clock())
            self.repo.update_alert(tx, updated)
