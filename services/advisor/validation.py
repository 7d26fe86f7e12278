"""Validators for advisor tasks and queue requests (pure). Each failure names the offending field."""

from __future__ import annotations

import re

from services.advisor.policy import QueuePolicy
from services.gen.proactivecare.v1 import advisor_pb2, events_pb2
from services.platform.validation import require, require_id, validate_money

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_OPTION = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def validate_queue_name(queue: str, field: str = "queue") -> None:
    require(queue != "", field, "is required", "missing_queue")
    require(bool(_NAME.match(queue)), field, "must be 1-64 lower-case letters, digits, '.', '_' or '-'",
            "invalid_queue")


def validate_task_id(task_id: str, field: str = "task_id") -> None:
    require(task_id != "", field, "is required", "missing_task_id")
    require(bool(_ID.match(task_id)), field, "must be 1-128 letters, digits, '.', '_', ':' or '-'", "invalid_task_id")


def validate_task(task: events_pb2.AdvisorTask, field: str = "task") -> None:
    validate_task_id(task.id, f"{field}.id")
    require_id(task.customer_id, f"{field}.customer_id")
    validate_queue_name(task.queue, f"{field}.queue")
    require(task.kind != "", f"{field}.kind", "is required", "missing_kind")
    require(task.HasField("value"), f"{field}.value", "is required", "missing_value")
    validate_money(task.value, f"{field}.value")
    require(0.0 <= task.urgency <= 1.0, f"{field}.urgency", "must be between 0 and 1", "invalid_urgency")
    require(task.HasField("sla_deadline") and task.sla_deadline.seconds > 0, f"{field}.sla_deadline",
            "is required", "missing_sla_deadline")
    require(task.HasField("created_at") and task.created_at.seconds > 0, f"{field}.created_at", "is required",
            "missing_created_at")
    require(task.sla_deadline.ToDatetime() >= task.created_at.ToDatetime(), f"{field}.sla_deadline",
            "is before created_at", "invalid_sla_deadline")


def lease_seconds(request: advisor_pb2.ClaimNextRequest, policy: QueuePolicy) -> int:
    validate_queue_name(request.queue)
    return _lease(request.lease_seconds, policy)


def renewed_lease_seconds(request: advisor_pb2.RenewLeaseRequest, policy: QueuePolicy) -> int:
    validate_task_id(request.task_id)
    return _lease(request.lease_seconds, policy)


def _lease(requested: int, policy: QueuePolicy) -> int:
    """The lease a claim or a renewal asks for (0 = the policy's default), within the policy's bound."""
    if requested == 0:
        return policy.default_lease_seconds
    require(0 < requested <= policy.max_lease_seconds, "lease_seconds",
            f"must be between 1 and {policy.max_lease_seconds} (0 = default {policy.default_lease_seconds})")
    return requested


def validate_complete(request: advisor_pb2.CompleteRequest, policy: QueuePolicy) -> None:
    validate_task_id(request.task_id)
    require(request.outcome in policy.outcomes, "outcome", f"must be one of {', '.join(sorted(policy.outcomes))}")
    require(len(request.note) <= 2000, "note", "must be at most 2000 characters")
    require(request.option_code == "" or bool(_OPTION.match(request.option_code)), "option_code",
            "must be 1-64 upper-case letters, digits or '_'")


def validate_snooze(request: advisor_pb2.SnoozeRequest, policy: QueuePolicy) -> None:
    validate_task_id(request.task_id)
    require(0 < request.snooze_seconds <= policy.max_snooze_seconds, "snooze_seconds",
            f"must be between 1 and {policy.max_snooze_seconds}")
