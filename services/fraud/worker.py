"""The fraud stream handler: `transactions` are scored a poll batch at a time (one model call); CHALLENGE and
BLOCK store an alert (id derived from the transaction id) and notify the customer on `notifications`.
`fraud-feedback` answers teach terminal / merchant risk at once. The feature state lives in the store: the batch's
customers and shops are brought up to the stored state first, and what the batch changed is written in the batch's
own store transaction (customers conditionally on the version read, see state_cache.py), so a restart, or a
partition moving to another replica, resumes exactly where the committed offsets are."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from services.fraud.alerts import AlertRecord, AlertStatus, resolve
from services.fraud.decision import FraudDecision
from services.fraud.events import TxEvent
from services.fraud.live_models import LiveModels
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
from services.platform import followups, streams
from services.platform.clock import Clock, utc_now
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.storage import Tx
from services.platform.topics import CARE_FOLLOWUPS, FRAUD_FEEDBACK, NOTIFICATIONS, TRANSACTIONS

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
FOLLOW_UP_WINDOW = timedelta(days=30)  # an alert's card is watched this long for further fraud


def sources(settings: Settings) -> list[Source]:
    return [
        streams.transactions(settings),
        Source(settings.topic(FRAUD_FEEDBACK), events_pb2.FraudFeedback.FromString, validate_feedback,
               event_id=feedback_event_id),
    ]


def feedback_event_id(fb: events_pb2.FraudFeedback, _record: object) -> str:
    """One answer per transaction, alert and verdict (content, not partition:offset: a retried answer or a
    recreated topic is recognised; a changed answer is a new event)."""
    return f"{fb.transaction_id}:{fb.alert_id}:{int(fb.confirmed_fraud)}"


class FraudHandler:
    def __init__(self, settings: Settings, scorer: FraudScorer, metrics: FraudMetrics,
                 clock: Clock = utc_now, models: LiveModels | None = None) -> None:
        self.scorer = scorer
        self.models = models  # champion swaps between batches, the challenger in shadow, the labelled history
        self.metrics = metrics
        self.clock = clock
        self.transactions_topic = settings.topic(TRANSACTIONS)
        self.notifications_topic = settings.topic(NOTIFICATIONS)
        self.followups_topic = settings.topic(CARE_FOLLOWUPS)
        # sees every scored payment's decision (the backtest, which needs every score, not only the alerts)
        self.observe: Callable[[Sequence[Record], Sequence[FraudDecision]], None] | None = None
        # when an alert counts as raised: the clock's now (production: milliseconds after the payment), or in a
        # replay the payment's own time, which does not depend on which poll batch the payment came in
        self.raised_at: Callable[[TxEvent, datetime], datetime] = lambda _event, now: now

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = FraudRepository(tx)
        watch = followups.FollowUps(tx, "fraud", self.followups_topic, self.metrics.followups)
        watch.load(record.value.customer_id for record in records)
        self.scorer.begin_batch()
        if self.models is not None:
            self.models.refresh()  # a promoted model takes over here, between batches
        card_records = []
        feedback = []
        outputs: dict[str, list[Output]] = {}
        for record in records:
            if record.topic == self.transactions_topic:
                expired = watch.expire(record.value.customer_id, record.value.timestamp.ToDatetime(UTC),
                                       followups.AVOIDED)  # no further fraud on the card inside the window
                if expired:
                    outputs[record.event_id] = expired
                if is_card_debit(record.value, self.scorer.policy.scored_channels):
                    card_records.append(record)
            else:
                feedback.append(record)
        if feedback:
            self._learn(feedback, repo, watch, outputs)
        if card_records:
            for event_id, produced in self._score(card_records, repo, watch).items():
                outputs.setdefault(event_id, []).extend(produced)
        self.scorer.persist(repo)
        return outputs

    def committed(self, _records: list[Record]) -> None:
        """The batch's transaction committed (the runner calls this): its feature state is the stored one."""
        self.scorer.batch_committed()

    def _score(self, records: list[Record], repo: FraudRepository,
               watch: followups.FollowUps) -> dict[str, list[Output]]:
        events = [to_event(r.value) for r in records]
        frozen = repo.frozen_among(e.card_token for e in events)
        started = time.perf_counter()
        features: list[np.ndarray] = []
        decisions = self.scorer.score(events, frozen, repo, features_out=features)
        self.metrics.scoring_seconds.labels("stream").observe(time.perf_counter() - started)
        self.metrics.batch_size.labels("stream").observe(len(events))
        self.metrics.count_decisions("stream", decisions)
        if self.models is not None:  # the challenger in shadow, and the rows for retraining
            self.models.observe(events, features[0], decisions)
            self.models.write(repo.tx)
        if self.observe is not None:
            self.observe(records, decisions)
        now = self.clock()
        outputs: dict[str, list[Output]] = {}
        for record, event, decision in zip(records, events, decisions, strict=True):
            if not decision.alerts:
                continue
            alert = new_alert(record.value, event, decision, self.raised_at(event, now))
            if repo.add_alert(alert):
                self.metrics.alerts.labels(decision.verdict.name).inc()
                note = notification(alert, decision, record.timestamp_ms)
                outputs[record.event_id] = [Output(self.notifications_topic, alert.customer_id,
                                                   note.SerializeToString())]
                watch.open(followups.FollowUp(alert.id, alert.customer_id, followups.FRAUD_ALERT,
                                              alert.transaction_time, alert.transaction_time + FOLLOW_UP_WINDOW,
                                              subject=alert.card_token))
        return outputs

    def _learn(self, records: list[Record], repo: FraudRepository, watch: followups.FollowUps,
               outputs: dict[str, list[Output]]) -> None:
        """Answers to alerts (from this or another replica) or chargebacks (no alert id): learn the labels.
        The card is frozen when the customer answered "No, freeze my card"; a chargeback comes days later and
        the card's reissue is the issuer's business, so it only teaches.

        An answer naming an alert must match a stored alert of that card and customer: anything else (a forged or
        corrupt record) neither freezes a card nor teaches, and is counted as `unmatched`."""
        matched: list[tuple[events_pb2.FraudFeedback, AlertRecord | None]] = []
        for record in records:
            fb = record.value
            alert = repo.get_alert(fb.alert_id) if fb.alert_id else None
            if fb.alert_id and (alert is None or alert.customer_id != fb.customer_id
                                or alert.card_token != fb.card_token):
                self.metrics.feedback.labels("unmatched").inc()
                log.warning("fraud feedback for alert %s matches no stored alert of that card and customer: "
                            "ignored", fb.alert_id)
                continue
            matched.append((fb, alert))
            settled = follow_up(watch, fb)
            if settled:
                outputs[record.event_id] = settled
        self.scorer.learn([label_from_feedback(fb, alert.mcc if alert else "") for fb, alert in matched], repo)
        if self.models is not None:
            self.models.learn(repo.tx, [fb for fb, _ in matched], self.clock().timestamp())
        for fb, alert in matched:
            self.metrics.feedback.labels("fraud" if fb.confirmed_fraud else "genuine").inc()
            # the alert row first, then the card: the order ResolveAlert writes them in, so the two never deadlock
            if alert is not None and alert.status == AlertStatus.OPEN:
                updated, _ = resolve(alert, fb.confirmed_fraud, self.clock())
                repo.update_alert(updated)
            if fb.confirmed_fraud and fb.alert_id:
                repo.freeze_card(fb.card_token, fb.customer_id, fb.alert_id, self.clock())


def follow_up(watch: followups.FollowUps, fb: events_pb2.FraudFeedback) -> list[Output]:
    """Close the alerts a label settles: "it was me" on the alerted payment (no fraud to stop: not applicable), or
    fraud confirmed on a later payment of the alerted card inside the window (further fraud happened)."""
    produced = []
    when = fb.transaction_time.ToDatetime(UTC)
    for watched in watch.of(fb.customer_id):
        if fb.alert_id == watched.id and not fb.confirmed_fraud:
            closed = watch.close(watched, followups.NOT_APPLICABLE, fb.answered_at.ToDatetime(UTC))
        elif (fb.confirmed_fraud and fb.card_token == watched.subject and fb.alert_id != watched.id
              and watched.opened_at < when <= watched.watch_until):
            closed = watch.close(watched, followups.HAPPENED, when)
        else:
            continue
        if closed is not None:
            produced.append(closed)
    return produced
