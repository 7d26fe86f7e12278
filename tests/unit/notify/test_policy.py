"""Delivery policy: quiet hours in the customer's zone, opt-outs, caps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.notify.policy import Outcome, decide, default_preferences, validate_preferences
from services.platform.errors import ValidationError

NUDGE, FRAUD = events_pb2.NOTIFICATION_KIND_NUDGE, events_pb2.NOTIFICATION_KIND_FRAUD_ALERT


def prefs(**overrides) -> notify_pb2.Preferences:
    p = default_preferences("C1", "Europe/London")  # quiet 22:00-07:00, 2 a day, 5 a week
    for key, value in overrides.items():
        setattr(p, key, value)
    return p


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


@pytest.mark.parametrize(("when", "kind", "outcome", "release"), [
    ("2026-01-15T23:30:00+00:00", NUDGE, Outcome.HOLD_QUIET_HOURS, "2026-01-16T07:00:00+00:00"),
    ("2026-01-15T23:30:00+00:00", FRAUD, Outcome.DELIVER, None),  # alerts pass at once
    ("2026-01-15T06:59:00+00:00", NUDGE, Outcome.HOLD_QUIET_HOURS, "2026-01-15T07:00:00+00:00"),
    ("2026-01-15T07:00:00+00:00", NUDGE, Outcome.DELIVER, None),
    ("2026-01-15T21:59:00+00:00", NUDGE, Outcome.DELIVER, None),
    # British Summer Time: 22:30 local is 21:30 UTC, and the window ends at 06:00 UTC
    ("2026-07-15T21:30:00+00:00", NUDGE, Outcome.HOLD_QUIET_HOURS, "2026-07-16T06:00:00+00:00"),
])
def test_quiet_hours_hold_nudges_in_the_customers_own_time_zone(when, kind, outcome, release):
    d = decide(kind, events_pb2.PRIORITY_NORMAL, at(when), prefs(), sent_today=0, sent_this_week=0)
    assert d.outcome == outcome
    assert (d.release_at.isoformat() if d.release_at else None) == release


def test_quiet_hours_follow_the_customer_zone_not_the_servers():
    tokyo = prefs(time_zone="Asia/Tokyo")
    # 14:00 UTC is 23:00 in Tokyo: quiet there, released at 07:00 Tokyo = 22:00 UTC
    d = decide(NUDGE, events_pb2.PRIORITY_NORMAL, at("2026-03-02T14:00:00+00:00"), tokyo, sent_today=0,
               sent_this_week=0)
    assert d.outcome == Outcome.HOLD_QUIET_HOURS
    assert d.release_at == at("2026-03-02T22:00:00+00:00")


def test_an_opted_out_kind_is_dropped_but_a_fraud_alert_never_is():
    p = prefs()
    p.opted_out_kinds.append(NUDGE)
    noon = at("2026-01-15T12:00:00+00:00")
    assert decide(NUDGE, events_pb2.PRIORITY_HIGH, noon, p, sent_today=0,
                  sent_this_week=0).outcome == Outcome.DROP_OPT_OUT
    assert decide(FRAUD, events_pb2.PRIORITY_URGENT, noon, p, sent_today=99,
                  sent_this_week=99).outcome == Outcome.DELIVER


@pytest.mark.parametrize(("priority", "today", "week", "outcome", "release"), [
    (events_pb2.PRIORITY_NORMAL, 1, 1, Outcome.DELIVER, None),
    (events_pb2.PRIORITY_NORMAL, 2, 2, Outcome.DROP_CAP, None),  # low value over the cap: dropped
    (events_pb2.PRIORITY_HIGH, 2, 2, Outcome.HOLD_CAP, "2026-01-16T00:00:00+00:00"),  # important: next local day
    (events_pb2.PRIORITY_HIGH, 0, 5, Outcome.HOLD_CAP, "2026-01-19T00:00:00+00:00"),  # week cap: next Monday
])
def test_frequency_caps_hold_or_drop_by_priority(priority, today, week, outcome, release):
    d = decide(NUDGE, priority, at("2026-01-15T12:00:00+00:00"), prefs(), sent_today=today, sent_this_week=week)
    assert d.outcome == outcome
    assert (d.release_at.isoformat() if d.release_at else None) == release


def _quiet(start: int, end: int) -> notify_pb2.QuietHours:
    return notify_pb2.QuietHours(enabled=True, start_minute=start, end_minute=end)


BAD_PREFERENCES = [
    ({"customer_id": ""}, "preferences.customer_id"),
    ({"time_zone": "Mars/Olympus"}, "preferences.time_zone"),
    ({"quiet_hours": _quiet(-1, 420)}, "preferences.quiet_hours.start_minute"),
    ({"quiet_hours": _quiet(1320, 1440)}, "preferences.quiet_hours.end_minute"),
    ({"max_nudges_per_day": -1}, "preferences.max_nudges_per_day"),
    ({"max_nudges_per_week": 1000}, "preferences.max_nudges_per_week"),
    ({"max_nudges_per_day": 4, "max_nudges_per_week": 3}, "preferences.max_nudges_per_week"),
    ({"opted_out_kinds": [events_pb2.NOTIFICATION_KIND_FRAUD_ALERT]}, "preferences.opted_out_kinds"),
    ({"opted_out_kinds": [events_pb2.NOTIFICATION_KIND_SECURITY]}, "preferences.opted_out_kinds"),
    ({"opted_out_kinds": [99]}, "preferences.opted_out_kinds"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_PREFERENCES)
def test_bad_preferences_are_refused_naming_the_field(changes, field):
    p = prefs()
    for key, value in changes.items():
        if key == "quiet_hours":
            p.quiet_hours.CopyFrom(value)
        elif key == "opted_out_kinds":
            p.opted_out_kinds.extend(value)
        else:
            setattr(p, key, value)
    with pytest.raises(ValidationError) as err:
        validate_preferences(p)
    assert err.value.field == field


def test_default_preferences_are_valid():
    validate_preferences(prefs())
