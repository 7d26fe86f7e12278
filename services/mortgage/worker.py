"""The mortgage-care stream handler: `customers` and `transactions` in, CARE_OFFER notifications and
advisor tasks out.

It keeps every customer's latest profile and, for mortgage holders, a compact activity state. Once per
customer and day (the day of the event, so a replay behaves like the live stream) it reads the signals,
decides, and - the first time for a given payment - emits the offer to `notifications` and, for complex
cases, a task to `advisor-tasks`. A customer whose profile says "no mortgage" is not tracked.

The two topics are consumed independently, so a customer's transactions may arrive before the profile. They
are held, unfolded, until it comes and then handled in their order exactly as if the profile had come first:
the same offers, on the same days, whatever the arrival order (a replay gives the same result). The wait is
bounded (`PROFILE_WAIT_DAYS` of event time or `PROFILE_WAIT_MAX_TRANSACTIONS`); past it the held transactions
are folded without a profile, and a profile that comes later is judged once, on the last day seen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from services.gen.proactivecare.v1 import events_pb2
from services.mortgage import activity as act
from services.mortgage import offers
from services.mortgage import proto_mapping as pm
from services.mortgage.decision import decide, next_payment_date
from services.mortgage.metrics import MortgageMetrics
from services.mortgage.model import ExistingMortgage
from services.mortgage.outcomes import declined_within
from services.mortgage.policy import JURISDICTIONS, Policy, policy_in_force
from services.mortgage.repository import MortgageRepository
from services.mortgage.signals import Context, detect
from services.mortgage.validation import validate_mortgage
from services.platform import followups
from services.platform.errors import ValidationError
from services.platform.kafka_io import Output
from services.platform.runner import Record
from services.platform.storage import Tx
from services.platform.topics import CARE_FOLLOWUPS
from services.platform.validation import validate_customer_profile

log = logging.getLogger(__name__)
PROFILE_WAIT_DAYS = 183  # the signals read months of salary history: wait as long as the history they need
PROFILE_WAIT_MAX_TRANSACTIONS = 1000
FOLLOW_UP_GRACE_DAYS = 5  # a payment collected this long after its due date still counts as made (not missed)


_CLASSIFIERS: dict[str, act.Classifier] = {}


def _classifier(policy: Policy) -> act.Classifier:
    found = _CLASSIFIERS.get(policy.version)
    if found is None:
        th = policy.care.signals
        found = _CLASSIFIERS[policy.version] = act.Classifier(th.gambling_mccs, th.payday_loan_mccs,
                                                              th.payday_loan_keywords)
    return found


def _provisional_classifier(today: date) -> act.Classifier | None:
    """Before the profile says which jurisdiction applies: the first policy in force on the day."""
    for jurisdiction in JURISDICTIONS:
        try:
            return _classifier(policy_in_force(jurisdiction, today))
        except ValidationError:
            continue
    return None


def validate_profile(profile: events_pb2.CustomerProfile) -> None:
    validate_customer_profile(profile)


class MortgageCareHandler:
    def __init__(self, notifications_topic: str, advisor_topic: str, metrics: MortgageMetrics,
                 followups_topic: str = CARE_FOLLOWUPS) -> None:
        self.notifications_topic = notifications_topic
        self.advisor_topic = advisor_topic
        self.followups_topic = followups_topic
        self.metrics = metrics

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = MortgageRepository(tx)
        watch = followups.FollowUps(tx, "mortgage", self.followups_topic, self.metrics.followups)
        by_customer: dict[str, list[Record]] = {}
        for r in records:
            by_customer.setdefault(r.value.customer_id, []).append(r)
        watch.load(by_customer)
        outputs: dict[str, list[Output]] = {}
        for customer_id, recs in by_customer.items():
            self._customer(repo, watch, customer_id, recs, outputs)
        return outputs

    def _customer(self, repo: MortgageRepository, watch: followups.FollowUps, customer_id: str,
                  records: list[Record], outputs: dict[str, list[Output]]) -> None:
        known, profile = repo.load_profile(customer_id)
        without_mortgage = known and profile is None
        mortgages = pm.mortgages(profile) if profile is not None else []
        activity: act.Activity | None = None
        evaluated_on: date | None = None
        for r in records:
            if isinstance(r.value, events_pb2.CustomerProfile):
                profile = r.value
                mortgages = pm.mortgages(profile)
                repo.save_profile(profile, bool(mortgages))
                without_mortgage = not mortgages
                if activity is None:
                    activity, evaluated_on = repo.load_activity(customer_id)
                held, activity.held = activity.held, []
                if without_mortgage:
                    activity = None
                    continue
                # what arrived before the profile: handled now, in its order, as if the profile had come first
                for raw in held:
                    evaluated_on = self._transaction(repo, watch, profile, mortgages, activity, evaluated_on,
                                                     pm.txn(events_pb2.Transaction.FromString(raw)), r, outputs)
                day = activity.last_seen
                if day is not None and (evaluated_on is None or day > evaluated_on):
                    # history folded without a profile (the wait ended): judge it now, once
                    evaluated_on = day
                    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
                    for mortgage in mortgages:
                        outputs.setdefault(r.event_id, []).extend(
                            self._evaluate(repo, watch, profile, mortgage, activity, day, at, r.timestamp_ms))
                continue
            if without_mortgage:                    # nothing to track
                continue
            if activity is None:
                activity, evaluated_on = repo.load_activity(customer_id)
            if profile is None:                     # profile not here yet: hold, don't judge
                self._hold(activity, r.value)
                continue
            evaluated_on = self._transaction(repo, watch, profile, mortgages, activity, evaluated_on,
                                             pm.txn(r.value), r, outputs)
        if activity is not None:
            repo.save_activity(customer_id, activity, evaluated_on)

    @staticmethod
    def _hold(activity: act.Activity, transaction: events_pb2.Transaction) -> None:
        """Keep a transaction until the profile comes; past the wait, fold everything held without a profile."""
        txn = pm.txn(transaction)
        if not activity.held_over:
            activity.held.append(transaction.SerializeToString())
            first = pm.txn(events_pb2.Transaction.FromString(activity.held[0])).at
            if (txn.at - first).days < PROFILE_WAIT_DAYS and len(activity.held) < PROFILE_WAIT_MAX_TRANSACTIONS:
                return
            activity.held_over = True
            held, activity.held = activity.held, []
            for raw in held:
                earlier = pm.txn(events_pb2.Transaction.FromString(raw))
                provisional = _provisional_classifier(earlier.at.date())
                if provisional is not None:
                    act.apply(activity, earlier, provisional)
            return
        provisional = _provisional_classifier(txn.at.date())
        if provisional is not None:
            act.apply(activity, txn, provisional)

    def _transaction(self, repo: MortgageRepository, watch: followups.FollowUps,
                     profile: events_pb2.CustomerProfile, mortgages: list[ExistingMortgage], activity: act.Activity,
                     evaluated_on: date | None, txn: act.Txn, r: Record,
                     outputs: dict[str, list[Output]]) -> date | None:
        """Fold one transaction of a mortgage holder and, the first time on its day, judge the day."""
        today = txn.at.date()
        policy = self._policy(mortgages[0], today)
        if policy is None:
            return evaluated_on
        act.apply(activity, txn, _classifier(policy))
        settled = follow_up(watch, profile.customer_id, activity, txn.at)
        if settled:
            outputs.setdefault(r.event_id, []).extend(settled)
        if evaluated_on is None or today > evaluated_on:
            evaluated_on = today
            for mortgage in mortgages:
                outputs.setdefault(r.event_id, []).extend(
                    self._evaluate(repo, watch, profile, mortgage, activity, today, txn.at, r.timestamp_ms))
        return evaluated_on

    def _policy(self, mortgage: ExistingMortgage, today: date) -> Policy | None:
        try:
            policy = policy_in_force(mortgage.jurisdiction, today, field="mortgage.jurisdiction")
            validate_mortgage(mortgage, policy)
            return policy
        except ValidationError as exc:
            self.metrics.evaluations.labels("no_policy").inc()
            log.debug("mortgage %s not evaluated on %s: %s", mortgage.id, today, exc)
            return None

    def _evaluate(self, repo: MortgageRepository, watch: followups.FollowUps, profile: events_pb2.CustomerProfile,
                  mortgage: ExistingMortgage, activity: act.Activity, today: date, at: datetime,
                  origin_ms: int) -> list[Output]:
        policy = self._policy(mortgage, today)
        if policy is None:
            return []
        customer_id = profile.customer_id
        income = profile.monthly_income.amount_minor if profile.monthly_income.currency == mortgage.currency else 0
        context = Context(payday=profile.payday, monthly_income_minor=income,
                          overdraft_limit_minor=pm.overdraft_limit_minor(profile),
                          next_due=next_payment_date(mortgage.payment_day, today, activity.mortgage_paid_on),
                          next_payment_minor=mortgage.monthly_payment_minor)
        signals = detect(activity, today, policy.care.signals, context)
        for s in signals:
            self.metrics.signals.labels(s.code).inc()
        if not signals:
            self.metrics.evaluations.labels("no_signal").inc()
            return []
        decision = decide(customer_id, mortgage, signals, today, activity.mortgage_paid_on)
        declined = declined_within(repo.tx, customer_id, today, policy)
        if declined:  # an option the customer turned down with an advisor is not offered again inside the window
            decision = replace(decision, options=tuple(o for o in decision.options if o.code not in declined))
        if not decision.offer:
            self.metrics.evaluations.labels("watch").inc()
            return []
        first = repo.record_offer(decision.offer_id, customer_id, mortgage.id, decision.due_date, today,
                                        decision.escalate, [s.code for s in signals])
        if not first:
            self.metrics.evaluations.labels("duplicate").inc()
            return []
        self.metrics.evaluations.labels("offer").inc()
        self.metrics.care_offers.inc()
        at = at.astimezone(UTC)
        watch.open(care_follow_up(decision.offer_id, customer_id, at, decision.due_date))
        note = offers.notification(customer_id, mortgage, decision, at, origin_ms)
        out = [Output(self.notifications_topic, customer_id, note.SerializeToString())]
        if decision.escalate:
            self.metrics.advisor_tasks.inc()
            task = offers.advisor_task(customer_id, mortgage, decision, at, policy.care.advisor_sla_hours,
                                       policy.care.advisor_queue)
            out.append(Output(self.advisor_topic, customer_id, task.SerializeToString()))
        return out


def care_follow_up(offer_id: str, customer_id: str, at: datetime, due: date) -> followups.FollowUp:
    """A care offer is watched until its payment's due date plus `FOLLOW_UP_GRACE_DAYS`: was the payment made?"""
    until = datetime.combine(due + timedelta(days=FOLLOW_UP_GRACE_DAYS), datetime.min.time(), tzinfo=UTC)
    return followups.FollowUp(offer_id, customer_id, followups.CARE_OFFER, at, max(until, at))


def follow_up(watch: followups.FollowUps, customer_id: str, activity: act.Activity, at: datetime) -> list[Output]:
    """Close the care offers whose window this transaction passed: the mortgage payment collected since the offer,
    and not returned, means the missed payment was avoided; otherwise it happened."""
    produced = []
    for watched in watch.of(customer_id):
        if at <= watched.watch_until:
            continue
        offered = watched.opened_at.date()
        paid = activity.mortgage_paid_on is not None and offered <= activity.mortgage_paid_on
        returned = any(day >= offered for day in activity.mortgage_returned)
        outcome = followups.AVOIDED if paid and not returned else followups.HAPPENED
        closed = watch.close(watched, outcome, watched.watch_until)
        if closed is not None:
            produced.append(closed)
    return produced
