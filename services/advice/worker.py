"""The advice stream handler: per transaction, fold it into the customer's state, evaluate the nudge rules,
rank the eligible nudges, store them, and produce a Notification for each one sent and an AdvisorTask for each
case routed to advisors. Profiles from `customers` update the state the rules read (segment, savings, payday).

Event time is the clock: a nudge's `created_at` and every window are measured from the transaction's
timestamp, so a replay (or the evaluation's simulation) decides exactly what live processing decided. A
customer's transactions that arrive before the profile are held in the stored state (bounded) and folded when
it arrives (`CustomerState.hold`), and nothing is decided before the customer's warm-up has passed
(`judging`), so the order in which the two topics are consumed does not change what is sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as day_time

from services.advice.bandit import Context, LinUCB, balance_band
from services.advice.engine import Evaluation, evaluate
from services.advice.facts import TxFacts
from services.advice.messages import (
    nudge_id,
    profile_facts,
    to_advisor_task,
    to_notification,
    to_nudge,
    tx_facts,
)
from services.advice.metrics import AdviceMetrics
from services.advice.policy import Policy
from services.advice.ranking import Fatigue, rank, record_sent
from services.advice.repository import AdviceRepository
from services.advice.routing import route
from services.advice.rules.shortfall import TYPE as SHORTFALL
from services.advice.state import CustomerState
from services.platform import followups, streams
from services.platform.clock import utc_now
from services.platform.kafka_io import Output
from services.platform.policy_book import PolicyBook
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.storage import Tx
from services.platform.topics import ADVISOR_TASKS, CARE_FOLLOWUPS, CUSTOMERS, NOTIFICATIONS


def sources(settings: Settings) -> list[Source]:
    return [
        streams.transactions(settings),
        streams.customer_profiles(settings),
    ]


def judging(state: CustomerState, facts: TxFacts, policy: Policy) -> bool:
    """Nudges are decided only once the stream has shown the customer for the warm-up
    (`forecast.min_history_days` of event time). Before that, transactions are folded into the picture but not
    judged: the profile (another topic, consumed in no fixed order relative to the transactions) is then in
    place for every decision whenever it arrives within the warm-up, so a replay gives the same nudges."""
    if state.first_seen is None:
        return False
    return (facts.timestamp - state.first_seen).days >= policy.forecast.min_history_days


class AdviceHandler:
    def __init__(self, settings: Settings, policies: PolicyBook[Policy], metrics: AdviceMetrics) -> None:
        self.policies = policies
        self.metrics = metrics
        self.customers_topic = settings.topic(CUSTOMERS)
        self.notifications_topic = settings.topic(NOTIFICATIONS)
        self.tasks_topic = settings.topic(ADVISOR_TASKS)
        self.followups_topic = settings.topic(CARE_FOLLOWUPS)

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = AdviceRepository(tx)
        watch = followups.FollowUps(tx, "advice", self.followups_topic, self.metrics.followups)
        watch.load(record.value.customer_id for record in records)
        states: dict[str, CustomerState] = {}
        bandits: dict[str, LinUCB] = {}
        outputs: dict[str, list[Output]] = {}
        last_seen: dict[str, datetime] = {}
        for record in records:
            customer_id = record.value.customer_id
            state = states.get(customer_id) or states.setdefault(customer_id, repo.load_state(customer_id))
            if record.topic == self.customers_topic:
                state.apply_profile(profile_facts(record.value))
                ready = state.release()          # what waited for the profile, in its order
            else:
                facts = tx_facts(record.value, record.timestamp_ms)
                ready = state.hold(facts, self.policies.at(facts.timestamp))
            for facts in ready:
                produced = self._transaction(repo, state, facts, bandits, watch)
                if produced:
                    outputs.setdefault(record.event_id, []).extend(produced)
                last_seen[customer_id] = facts.timestamp
        for customer_id, state in states.items():
            repo.save_state(state, last_seen.get(customer_id, utc_now()))  # a bookkeeping time only
        return outputs

    def _transaction(self, repo: AdviceRepository, state: CustomerState, facts: TxFacts,
                     bandits: dict[str, LinUCB], watch: followups.FollowUps) -> list[Output]:
        """Fold one transaction and, past the warm-up, decide: the nudges and advisor tasks it produces."""
        started = time.perf_counter()
        policy = self.policies.at(facts.timestamp)
        bandit = bandits.get(policy.version) or bandits.setdefault(policy.version, repo.load_bandit(policy.ranking))
        before = state.balance_minor
        if not judging(state, facts, policy):
            state.observe(facts, policy)       # fold, don't judge (see `judging`)
            return follow_up(watch, state, facts, before)
        evaluation = evaluate(state, facts, policy)
        produced = follow_up(watch, state, facts, before)
        produced += self._nudges(repo, state, evaluation, policy, bandit, facts.produced_at_ms, watch)
        for draft in route(state, evaluation, policy):
            self.metrics.advisor_tasks.labels(draft.kind).inc()
            produced.append(Output(self.tasks_topic, state.customer_id, to_advisor_task(draft).SerializeToString()))
        self.metrics.evaluate_seconds.observe(time.perf_counter() - started)
        return produced

    def _nudges(self, repo: AdviceRepository, state: CustomerState, evaluation: Evaluation, policy: Policy,
                bandit: LinUCB, produced_at_ms: int, watch: followups.FollowUps) -> list[Output]:
        for candidate, why in evaluation.held_back:
            self.metrics.held.labels(candidate.type, why.split(":")[0]).inc()
        if not evaluation.candidates:
            return []
        customer_id = state.customer_id
        now = evaluation.observation.tx.timestamp
        context = Context(state.profile.segment if state.profile else "",
                          balance_band(state.balance_minor, policy.ranking))
        fatigue = repo.load_fatigue(customer_id)
        outputs: list[Output] = []
        for ranked in rank(list(evaluation.candidates), context, bandit, fatigue, policy, now):
            candidate = ranked.candidate
            self.metrics.eligible.labels(candidate.type).inc()
            nid = nudge_id(customer_id, candidate, evaluation.observation.tx.id)
            nudge = to_nudge(nid, customer_id, candidate, now, ranked.score, ranked.sent)
            if not repo.add_nudge(nudge, context):
                continue
            if not ranked.sent:
                self.metrics.held.labels(candidate.type, ranked.why).inc()
                continue
            self.metrics.sent.labels(candidate.type).inc()
            updated = record_sent(fatigue.get(candidate.type, Fatigue()), now, policy.ranking)
            fatigue[candidate.type] = updated
            repo.save_fatigue(customer_id, candidate.type, updated)
            priority = policy.rule(candidate.type).notification_priority
            notification = to_notification(nudge, priority, produced_at_ms)
            outputs.append(Output(self.notifications_topic, customer_id, notification.SerializeToString()))
            if candidate.type == SHORTFALL:
                watch.open(shortfall_follow_up(nid, customer_id, now, candidate.data))
        return outputs


def shortfall_follow_up(nudge_id: str, customer_id: str, now: datetime,
                        data: Mapping[str, str]) -> followups.FollowUp:
    """A shortfall warning is watched until the payday it was about (or the day after the overdraft it foresaw,
    when that comes after payday: a customer warned while overdrawn of going below zero again after pay). With
    irregular income there is no payday: until the day after the overdraft it foresaw."""
    after_negative = datetime.fromisoformat(data["negative_day"]).date() + timedelta(days=1)
    payday = datetime.fromisoformat(data["payday"]).date() if data.get("payday") else after_negative
    until = datetime.combine(max(payday, after_negative), day_time(0), tzinfo=UTC)
    return followups.FollowUp(nudge_id, customer_id, followups.SHORTFALL_WARNING, now, max(until, now))


def follow_up(watch: followups.FollowUps, state: CustomerState, facts: TxFacts,
              before: int | None) -> list[Output]:
    """Close the customer's shortfall warnings this transaction settles: it took the balance from zero or above
    to below zero inside the window (the overdraft happened), or it comes after the window (avoided)."""
    produced = []
    crossed = before is not None and before >= 0 and state.balance_minor is not None and state.balance_minor < 0
    for watched in watch.of(state.customer_id):
        if facts.timestamp > watched.watch_until:
            closed = watch.close(watched, followups.AVOIDED, watched.watch_until)
        elif crossed and facts.timestamp >= watched.opened_at:
            closed = watch.close(watched, followups.HAPPENED, facts.timestamp)
        else:
            continue
        if closed is not None:
            produced.append(closed)
    return produced

