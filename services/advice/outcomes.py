"""Advisors' outcomes teach the ranking (`advisor-outcomes`, services/advisor/outcomes.py).

An advisor's outcome on a task advice raised is taken as the customer's answer to the nudge behind it: the
customer's latest sent, still unanswered nudge of the task's kind (an IDLE_CASH task: the IDLE_CASH nudge; a
REPEATED_SHORTFALL task: the PROJECTED_SHORTFALL nudge) gets the response the outcome stands for, and the bandit
and the customer's fatigue record learn from it exactly as from an answer in the app (`record_answer`, which
AdviceService.RespondToNudge uses too). An outcome that says nothing about the advice (UNREACHABLE, REFERRED),
a task of another service, or no such nudge: nothing is learnt. Effects dedupe on the task id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from services.advice.policy import Policy
from services.advice.ranking import Fatigue, record_response, reward_of
from services.advice.repository import AdviceRepository
from services.gen.proactivecare.v1 import advice_pb2, events_pb2
from services.platform import enums
from services.platform.clock import Clock, utc_now
from services.platform.policy_book import PolicyBook
from services.platform.runner import Output, Record
from services.platform.storage import Tx

# the advisor policy's outcomes -> the customer answer each stands for (absent: it teaches nothing)
RESPONSES = {"OFFER_ACCEPTED": "ACTED", "CONTACTED": "HELPFUL", "OFFER_DECLINED": "NOT_HELPFUL",
             "NO_ACTION": "NOT_HELPFUL"}
# a task's kind -> the nudge types it follows up
NUDGE_TYPES = {"IDLE_CASH": ("IDLE_CASH",), "REPEATED_SHORTFALL": ("PROJECTED_SHORTFALL",)}
LOOK_BACK = 50  # the customer's latest nudges searched for the one a task followed up


def record_answer(repo: AdviceRepository, nudge: advice_pb2.Nudge, context: object, response: str, now: datetime,
                  policy: Policy) -> bool:
    """Store `response` to `nudge`; the first answer trains the bandit and the customer's fatigue record.
    Returns whether it was the first answer."""
    first_answer = nudge.response == advice_pb2.NUDGE_RESPONSE_UNSPECIFIED
    repo.set_response(nudge.id, response, now)
    if first_answer:
        reward = reward_of(response, policy.ranking)
        if reward is not None:
            bandit = repo.load_bandit(policy.ranking)
            bandit.update(nudge.type, context, reward)  # type: ignore[arg-type]
            repo.save_arm(bandit, nudge.type)
        fatigue = repo.load_fatigue(nudge.customer_id).get(nudge.type, Fatigue())
        repo.save_fatigue(nudge.customer_id, nudge.type, record_response(fatigue, response, now, policy.ranking))
    nudge.response = enums.value_of(advice_pb2.NudgeResponse, response)
    return first_answer




class OutcomeHandler:
    """Learns from advisors' outcomes on advice's tasks (see the module's docstring)."""

    def __init__(self, policies: PolicyBook, on_learnt: Callable[[str, str], None] = lambda _type, _resp: None,
                 clock: Clock = utc_now) -> None:
        self.policies = policies
        self.on_learnt = on_learnt
        self.clock = clock

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = AdviceRepository(tx)
        now = self.clock()
        for record in records:
            event: events_pb2.AdvisorOutcome = record.value
            response = RESPONSES.get(event.outcome)
            types = NUDGE_TYPES.get(event.kind, ())
            if event.source != "advice" or response is None or not types:
                continue
            nudge = next((n for n in repo.list_nudges(event.customer_id, 0, LOOK_BACK)
                          if n.type in types and n.sent and n.response == advice_pb2.NUDGE_RESPONSE_UNSPECIFIED),
                         None)
            if nudge is None:
                continue
            found = repo.get_nudge(nudge.id)
            if found is not None and record_answer(repo, found[0], found[1], response, now, self.policies.at(now)):
                self.on_learnt(nudge.type, response)
        return {}

