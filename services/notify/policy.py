"""Delivery policy, pure: quiet hours in the customer's own time zone, opt-outs, frequency caps.

Fraud and security alerts always pass at once and cannot be opted out of. Other kinds (nudges, care offers)
are held during quiet hours until the window ends; beyond a day or week cap they are held until the next
local day/week when their priority is at least HIGH, otherwise dropped (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.platform import enums
from services.platform.clock import utc_now
from services.platform.errors import ValidationError
from services.platform.policy_book import PolicyBook, PolicyVersion
from services.platform.validation import is_time_zone, require_id, time_zone_or

MINUTES_PER_DAY = 24 * 60


class QuietHoursDefault(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool
    start_minute: int = Field(ge=0, lt=MINUTES_PER_DAY, description="minutes after local midnight")
    end_minute: int = Field(ge=0, lt=MINUTES_PER_DAY, description="may wrap past midnight")


class Policy(PolicyVersion):
    """One version of the delivery policy (`policy.json`, the kernel's policy book)."""

    default_time_zone: str = Field(description="IANA zone of a customer whose profile names none")
    default_quiet_hours: QuietHoursDefault
    default_max_nudges_per_day: int = Field(ge=0)
    default_max_nudges_per_week: int = Field(ge=0)
    max_cap: int = Field(gt=0, description="the highest cap a customer may choose")
    urgent_kinds: frozenset[str] = Field(description="kinds delivered at once, even in quiet hours, never opted out")
    hold_over_cap_min_priority: str = Field(description="over a cap, this priority and above wait; below: dropped")
    week_starts_on: Literal["MONDAY"] = "MONDAY"

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @field_validator("urgent_kinds")
    @classmethod
    def _kinds(cls, value: frozenset[str]) -> frozenset[str]:
        for kind in value:
            enums.value_of(events_pb2.NotificationKind, kind)  # ValueError names the unknown kind
        return value

    @field_validator("hold_over_cap_min_priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        enums.value_of(events_pb2.Priority, value)
        return value

    @cached_property
    def urgent_kind_values(self) -> frozenset[int]:
        return frozenset(enums.value_of(events_pb2.NotificationKind, k) for k in self.urgent_kinds)

    @cached_property
    def hold_min_priority(self) -> int:
        return enums.value_of(events_pb2.Priority, self.hold_over_cap_min_priority)


POLICY_FILE = Path(__file__).with_name("policy.json")


@cache
def policy_book(path: Path = POLICY_FILE) -> PolicyBook[Policy]:
    return PolicyBook.load(path, Policy)


def load_policy(at: datetime | None = None) -> Policy:
    """The version in force now (or at `at`)."""
    return policy_book().at(at or utc_now())


def default_preferences(customer_id: str, time_zone: str = "", policy: Policy | None = None) -> notify_pb2.Preferences:
    p = policy or load_policy()
    return notify_pb2.Preferences(
        customer_id=customer_id, time_zone=time_zone or p.default_time_zone,
        quiet_hours=notify_pb2.QuietHours(enabled=p.default_quiet_hours.enabled,
                                          start_minute=p.default_quiet_hours.start_minute,
                                          end_minute=p.default_quiet_hours.end_minute),
        max_nudges_per_day=p.default_max_nudges_per_day, max_nudges_per_week=p.default_max_nudges_per_week)


def validate_preferences(prefs: notify_pb2.Preferences, policy: Policy | None = None) -> None:
    p = policy or load_policy()
    field = "preferences"
    require_id(prefs.customer_id, f"{field}.customer_id")
    if not is_time_zone(prefs.time_zone):
        raise ValidationError(f"{field}.time_zone", "is not a known IANA time zone")
    for name in ("start_minute", "end_minute"):
        value = getattr(prefs.quiet_hours, name)
        if not 0 <= value < MINUTES_PER_DAY:
            raise ValidationError(f"{field}.quiet_hours.{name}", f"must be in 0..{MINUTES_PER_DAY - 1}")
    for name in ("max_nudges_per_day", "max_nudges_per_week"):
        if not 0 <= getattr(prefs, name) <= p.max_cap:
            raise ValidationError(f"{field}.{name}", f"must be in 0..{p.max_cap}")
    if prefs.max_nudges_per_week < prefs.max_nudges_per_day:
        raise ValidationError(f"{field}.max_nudges_per_week", "must not be below max_nudges_per_day")
    for kind in prefs.opted_out_kinds:
        if kind in p.urgent_kind_values:
            name = enums.short_name(events_pb2.NotificationKind, kind)
            raise ValidationError(f"{field}.opted_out_kinds",
                                  f"{name} alerts protect the customer and cannot be turned off")
        if kind == events_pb2.NOTIFICATION_KIND_UNSPECIFIED or kind not in events_pb2.NotificationKind.values():
            raise ValidationError(f"{field}.opted_out_kinds", f"unknown kind {kind}")


class Outcome(StrEnum):
    DELIVER = "deliver"
    HOLD_QUIET_HOURS = "held_quiet_hours"
    HOLD_CAP = "held_cap"
    DROP_OPT_OUT = "dropped_opt_out"
    DROP_CAP = "dropped_cap"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    release_at: datetime | None = None  # UTC, for holds
    reason: str = field(default="")


def decide(kind: int, priority: int, now: datetime, prefs: notify_pb2.Preferences, *, sent_today: int,
           sent_this_week: int, policy: Policy | None = None) -> Decision:
    """What to do with one notification now. `sent_*` count non-urgent deliveries in the local day/week."""
    p = policy or load_policy()
    if kind in p.urgent_kind_values:
        return Decision(Outcome.DELIVER, reason="security alerts always pass at once")
    if kind in prefs.opted_out_kinds:
        return Decision(Outcome.DROP_OPT_OUT, reason="the customer turned this kind off")
    tz = time_zone_or(prefs.time_zone, p.default_time_zone)
    local = now.astimezone(tz)
    quiet_end = quiet_window_end(local, prefs.quiet_hours)
    if quiet_end is not None:
        return Decision(Outcome.HOLD_QUIET_HOURS, quiet_end.astimezone(UTC), "quiet hours")
    over_day = sent_today >= prefs.max_nudges_per_day
    over_week = sent_this_week >= prefs.max_nudges_per_week
    if not (over_day or over_week):
        return Decision(Outcome.DELIVER)
    if priority < p.hold_min_priority:
        return Decision(Outcome.DROP_CAP, reason="over the frequency cap")
    next_window = next_week_start(local) if over_week else next_day_start(local)
    return Decision(Outcome.HOLD_CAP, next_window.astimezone(UTC), "over the frequency cap")


def quiet_window_end(local: datetime, quiet: notify_pb2.QuietHours) -> datetime | None:
    """When the quiet window `local` falls in ends (local time), or None outside quiet hours."""
    if not quiet.enabled or quiet.start_minute == quiet.end_minute:
        return None
    minute = local.hour * 60 + local.minute
    start, end = quiet.start_minute, quiet.end_minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_day = local.date() if minute < end else local.date() + timedelta(days=1)
    naive = datetime.combine(end_day, time(end // 60, end % 60))
    return naive.replace(tzinfo=local.tzinfo)


def local_day_start(local: datetime) -> datetime:
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def next_day_start(local: datetime) -> datetime:
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)


def local_week_start(local: datetime) -> datetime:
    return datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=local.tzinfo)


def next_week_start(local: datetime) -> datetime:
    return local_week_start(local) + timedelta(days=7)
