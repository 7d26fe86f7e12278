"""A care decision as the messages it produces: the customer's CARE_OFFER notification and, for complex or
vulnerable cases, an advisor task on the "mortgage-care" queue. Pure: builds protobuf, does no I/O.

Both ids derive from the offer id (customer + mortgage + due date), so a redelivered or re-evaluated event
can never notify the customer twice about the same payment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.mortgage import wording as w
from services.mortgage.decision import CareDecision
from services.mortgage.model import ExistingMortgage
from services.mortgage.proto_mapping import money, reasons

SOURCE = "mortgage"
ADVISOR_KIND = "PAYMENT_DIFFICULTY"


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def notification(customer_id: str, mortgage: ExistingMortgage, decision: CareDecision, at: datetime,
                 origin_produced_at_ms: int) -> events_pb2.Notification:
    cur = mortgage.currency
    payment = w.money(mortgage.monthly_payment_minor, cur)
    due = decision.due_date.strftime("%d %B")
    lines = [f"Your next mortgage payment of {payment} is due on {due}. If money is tight right now, we can "
             "change your payments before then."]
    for o in decision.options[:3]:
        pay = (f"no payments for {w.months(o.duration_months)}" if o.new_monthly_payment_minor == 0 else
               f"{w.money(o.new_monthly_payment_minor, cur)} a month for {w.months(o.duration_months)}")
        lines.append(f"- {o.title}: {pay}.")
    if mortgage.jurisdiction == "UK":
        lines.append("Talking to us about this does not affect your credit file.")
    return events_pb2.Notification(
        id=decision.offer_id,
        customer_id=customer_id,
        kind=events_pb2.NOTIFICATION_KIND_CARE_OFFER,
        priority=events_pb2.PRIORITY_HIGH,
        title="Help with your mortgage payment",
        body="\n".join(lines),
        reasons=reasons(decision.reasons),
        actions=[common_pb2.Action(id="care.view_options", label="See my options"),
                 common_pb2.Action(id="care.call_me", label="Ask an adviser to call me")],
        created_at=_ts(at),
        source=SOURCE,
        source_id=decision.offer_id,
        origin_produced_at_ms=origin_produced_at_ms,
        data={
            "mortgage_id": mortgage.id,
            "due_date": decision.due_date.isoformat(),
            "monthly_payment_minor": str(mortgage.monthly_payment_minor),
            "currency": cur,
            "options": ",".join(o.code for o in decision.options),
            "signals": ",".join(s.code for s in decision.signals),
            "policy_version": decision.policy_version,
        },
    )


def advisor_task(customer_id: str, mortgage: ExistingMortgage, decision: CareDecision, at: datetime,
                 sla_hours: int, queue: str) -> events_pb2.AdvisorTask:
    window = max(decision.days_to_payment, 0)
    urgency = 1.0 if mortgage.in_arrears else round(max(0.3, 1.0 - window / 14), 2)
    deadline = min(at + timedelta(hours=sla_hours),
                   datetime.combine(decision.due_date, at.timetz()) if window > 0 else at + timedelta(hours=4))
    signals = ", ".join(s.code.lower().replace("_", " ") for s in decision.signals) or "none"
    summary = (f"Possible payment difficulty ({signals}). Mortgage {mortgage.id}: "
               f"{w.money(mortgage.monthly_payment_minor, mortgage.currency)} due {decision.due_date.isoformat()}"
               f"{', in arrears' if mortgage.in_arrears else ''}. Offered: "
               f"{', '.join(o.code for o in decision.options) or 'nothing self-serve'}.")
    return events_pb2.AdvisorTask(
        id=f"task:{decision.offer_id}",
        customer_id=customer_id,
        queue=queue,
        kind=ADVISOR_KIND,
        value=money(mortgage.monthly_payment_minor, mortgage.currency),
        urgency=urgency,
        sla_deadline=_ts(deadline),
        reasons=reasons(decision.reasons),
        summary=summary,
        created_at=_ts(at),
        source=SOURCE,
    )
