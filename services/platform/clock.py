"""One clock for every service: aware UTC datetimes, never naive, never local.

Code that decides takes a `Clock` (injected, defaulting to `utc_now`), so tests and replays fix time instead of
patching it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_today() -> date:
    return utc_now().date()
