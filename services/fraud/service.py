"""FraudService: score a transaction at authorization time (concurrent calls micro-batched into one model
call), list and read a customer's alerts, and take the customer's answer to one."""

from __future__ import annotations

import time

import grpc

from services.fraud.alerts import AlertRecord, resolve
from services.fraud.batching import MicroBatcher
from services.fraud.decision import FraudDecision
from services.fraud.events import TxEvent
from services.fraud.messages import (
    alert_pb,
    feedback_pb,
    label_from_alert,
    score_response,
    to_event,
    validate_scorable,
)
from services.fraud.metrics import FraudMetrics
from services.fraud.repository import FraudRepository
from services.fraud.scoring import FraudScorer
from services.gen.proactivecare.v1 import fraud_pb2, fraud_pb2_grpc
from services.platform import auth
from services.platform.clock import Clock, utc_now
from services.platform.errors import NotFoundError
from services.platform.kafka_client import Producer
from services.platform.paging import cut_page, read_page
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import FRAUD_FEEDBACK
from services.platform.validation import require, require_id


def validate_alert_id(alert_id: str) -> None:
    require_id(alert_id, "alert_id", max_length=160)  # a transaction id and a prefix


def page_of(request: fraud_pb2.ListAlertsRequest) -> tuple[int, int]:
    require_id(request.customer_id, "customer_id")
    return read_page(request.page)


class FraudServicer(fraud_pb2_grpc.FraudServiceServicer):
    def __init__(self, settings: Settings, scorer: FraudScorer, store: Store, metrics: FraudMetrics,
                 clock: Clock = utc_now) -> None:
        self.settings = settings
        self.scorer = scorer
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.batcher: MicroBatcher[TxEvent, FraudDecision] = MicroBatcher(
            self._score_batch, max_queue=settings.micro_batch_queue_max)
        self._producer: Producer | None = None

    # ---- scoring ------------------------------------------------------------------------------------------
    async def ScoreTransaction(self, request: fraud_pb2.ScoreTransactionRequest,
                               context: grpc.aio.ServicerContext) -> fraud_pb2.ScoreTransactionResponse:
        require(request.HasField("transaction"), "transaction", "is required")
        validate_scorable(request.transaction, self.scorer.policy.scored_channels)
        decision = await self.batcher.submit(to_event(request.transaction))
        return score_response(decision)

    def _score_batch(self, events: list[TxEvent]) -> list[FraudDecision]:
        """Runs in a worker thread: one feature pass and one model call for every queued caller."""
        started = time.perf_counter()
        ordered = sorted(range(len(events)), key=lambda i: events[i].ts)  # the engine wants time order
        with self.store.read() as tx:  # the customers' stored state, read here off the event loop
            repo = FraudRepository(tx)
            frozen = repo.frozen_among(e.card_token for e in events)
            decided = self.scorer.score([events[i] for i in ordered], frozen, repo, join=False)
        decisions: list[FraudDecision] = [decided[0]] * len(events)
        for position, i in enumerate(ordered):
            decisions[i] = decided[position]
        self.metrics.scoring_seconds.labels("rpc").observe(time.perf_counter() - started)
        self.metrics.batch_size.labels("rpc").observe(len(events))
        self.metrics.count_decisions("rpc", decisions)
        return decisions

    # ---- alerts -------------------------------------------------------------------------------------------
    async def ListAlerts(self, request: fraud_pb2.ListAlertsRequest,
                         context: grpc.aio.ServicerContext) -> fraud_pb2.ListAlertsResponse:
        offset, size = page_of(request)
        auth.require_customer(request.customer_id)
        alerts = await self.store.reading(lambda tx: FraudRepository(tx).list_alerts(
            request.customer_id, offset, size + 1, request.open_only))
        alerts, page = cut_page(alerts, offset, size)
        return fraud_pb2.ListAlertsResponse(alerts=[alert_pb(a) for a in alerts], page=page)

    async def GetAlert(self, request: fraud_pb2.GetAlertRequest,
                       context: grpc.aio.ServicerContext) -> fraud_pb2.GetAlertResponse:
        return fraud_pb2.GetAlertResponse(alert=alert_pb(await self._own_alert(request.alert_id)))

    async def ResolveAlert(self, request: fraud_pb2.ResolveAlertRequest,
                           context: grpc.aio.ServicerContext) -> fraud_pb2.ResolveAlertResponse:
        alert = await self._own_alert(request.alert_id)
        updated, _changed = resolve(alert, request.confirmed_fraud, self.clock())
        answered = await self.store.call(lambda: self._record_answer(updated))
        return fraud_pb2.ResolveAlertResponse(alert=alert_pb(answered))

    async def _own_alert(self, alert_id: str) -> AlertRecord:
        validate_alert_id(alert_id)
        alert = await self.store.reading(lambda tx: FraudRepository(tx).get_alert(alert_id))
        # a customer reaches only its own alerts; another's is answered as a missing one (ids cannot be probed)
        auth.require_owner(alert.customer_id if alert is not None else None, "alert")
        assert alert is not None
        return alert

    async def UnfreezeCard(self, request: fraud_pb2.UnfreezeCardRequest,
                           context: grpc.aio.ServicerContext) -> fraud_pb2.UnfreezeCardResponse:
        """The customer whose card it is (with a recent strong authentication: step-up), or an operator, lifts a
        freeze. A card that is not frozen, or frozen for another customer, is answered the same way: NOT_FOUND."""
        require_id(request.customer_id, "customer_id")
        require_id(request.card_token, "card_token")
        auth.require_customer(request.customer_id)
        # a customer lifts a freeze only right after a strong authentication (step-up); an operator is audited
        auth.require_step_up(self.settings.step_up_acr_values.replace(",", " ").split(),
                             self.settings.step_up_max_age_seconds)
        lifted = await self.store.writing(
            lambda tx: FraudRepository(tx).unfreeze_card(request.card_token, request.customer_id))
        if not lifted:
            raise NotFoundError("no such frozen card")
        return fraud_pb2.UnfreezeCardResponse(card_token=request.card_token, card_frozen=False)

    def _record_answer(self, alert: AlertRecord) -> AlertRecord:
        """Publish the answer first (a failed publish fails the call, and the app retries), then store it
        and the card freeze, then teach this process's features so the next score sees it at once. A retried
        answer publishes again; consumers dedupe on the transaction id."""
        now = alert.resolved_at or self.clock()
        self._publish(feedback_pb(alert, now))
        with self.store.transaction() as tx:
            repo = FraudRepository(tx)
            repo.update_alert(alert)
            if alert.card_frozen:
                repo.freeze_card(alert.card_token, alert.customer_id, alert.id, now)
        self.scorer.preview([label_from_alert(alert)])  # every replica learns it from `fraud-feedback`
        self.metrics.feedback.labels("fraud" if alert.card_frozen else "genuine").inc()
        return alert

    def _publish(self, feedback: object) -> None:
        """A send that fails or times out (the broker away) fails the call as UNAVAILABLE and drops the producer,
        so the app's retry starts on a fresh one."""
        from services.platform.kafka_client import open_producer
        from services.platform.kafka_io import Output, produce_all

        if self._producer is None:
            self._producer = open_producer(self.settings)
        out = Output(self.settings.topic(FRAUD_FEEDBACK), feedback.customer_id,  # type: ignore[attr-defined]
                     feedback.SerializeToString())  # type: ignore[attr-defined]
        try:
            produce_all(self._producer, [out], timeout=self.settings.produce_timeout_seconds)
        except Exception:
            producer, self._producer = self._producer, None
            producer.close(timeout=0)
            raise

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
