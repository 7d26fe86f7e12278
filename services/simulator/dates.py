"""Calendar helpers: the simulation counts days from ``start`` (00:00 UTC)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

SECONDS_PER_DAY = 86_400


@lru_cache(maxsize=64)
def _days_by_day_of_month(start: dt.date, n_days: int) -> dict[int, tuple[int, ...]]:
    by_dom: dict[int, list[int]] = {}
    for day in range(n_days):
        by_dom.setdefault((start + dt.timedelta(days=day)).day, []).append(day)
    return {dom: tuple(days) for dom, days in by_dom.items()}


def days_on_day_of_month(start: dt.date, n_days: int, day_of_month: int) -> tuple[int, ...]:
    """Day offsets in [0, n_days) whose calendar day is ``day_of_month`` (1..31)."""
    return _days_by_day_of_month(start, n_days).get(day_of_month, ())


def to_date(start: dt.date, day: int) -> dt.date:
    return start + dt.timedelta(days=int(day))


def to_iso(start: dt.date, seconds: int) -> str:
    """Seconds since ``start`` 00:00 UTC as an ISO 8601 UTC timestamp."""
    moment = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=int(seconds))
    return moment.isoformat().replace("+00:00", "Z")


def epoch_seconds(start: dt.date) -> int:
    """Unix time of ``start`` 00:00 UTC."""
    return int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp())
