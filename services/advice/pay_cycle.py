"""Spending that follows pay: what a customer spends on a day depends on how long ago they were paid.

Many people spend more on payday and the days after it, and less as the next pay nears. The odds take the next
k days' spending from every run of k consecutive past days; a run that held a payday splurge, judged for the
lean days before the next pay, overstates them (a false warning), and the other way round. So each past day is
given the customer's own mean spending at its days since pay (`expected`), the runs are taken over what was
spent beyond that mean, and the mean of the days ahead, at their own days since pay, is added back: the runs
keep their lumps and their spread, centred on the part of the pay cycle they are judged for. With no pay
known (gig income, no series yet) nothing changes; with no pay-cycle pattern the means are all alike and the
runs come back as they were.

Days since pay are grouped (`BUCKETS`: payday, the day after, 2-3, 4-7, 8-14, 15 or more days), and each group's
mean is drawn towards the customer's overall mean by `prior_days` days of it, so a group seen on a few days
only moves a little. Pure and deterministic.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

BUCKETS = (0, 1, 2, 4, 8, 15)  # the first day since pay of each group


@dataclass(frozen=True)
class CycleMeans:
    past: tuple[int, ...]  # each past day's expected spending (oldest first, as the history)
    ahead: tuple[int, ...]  # each day ahead's, in the order given

    def residuals(self, daily: Sequence[int]) -> list[int]:
        """What was spent each past day beyond its expected spending."""
        return [d - e for d, e in zip(daily, self.past, strict=True)]

    def ahead_sum(self, k: int) -> int:
        """The expected spending of the first `k` days ahead."""
        return sum(self.ahead[:k])


def _group(days_since: int) -> int:
    return bisect_right(BUCKETS, days_since) - 1


def _since(day: date, pays: Sequence[date]) -> int | None:
    """Days from the last pay on or before `day` (None: no pay known before it)."""
    i = bisect_right(pays, day)
    return None if i == 0 else (day - pays[i - 1]).days


def cycle_means(daily: Sequence[int], first_day: date, ahead: Sequence[date], pays: Sequence[date],
                prior_days: float) -> CycleMeans | None:
    """The expected spending of each past day of `daily` (from `first_day`, oldest first) and of each day of
    `ahead`, by days since pay; `pays` are the pay days, past and expected, sorted. None when no past day has a
    pay before it (nothing to learn the cycle from)."""
    if not daily or not pays:
        return None
    past_since = [_since(first_day + timedelta(days=i), pays) for i in range(len(daily))]
    if all(s is None for s in past_since):
        return None
    overall = sum(daily) / len(daily)
    totals: dict[int, float] = {}
    counts: dict[int, int] = {}
    for spent, since in zip(daily, past_since, strict=True):
        if since is not None:
            g = _group(since)
            totals[g] = totals.get(g, 0.0) + spent
            counts[g] = counts.get(g, 0) + 1

    def mean(since: int | None) -> int:
        if since is None:
            return round(overall)
        g = _group(since)
        weight = counts.get(g, 0) + prior_days
        return round((totals.get(g, 0.0) + prior_days * overall) / weight) if weight > 0 else round(overall)

    return CycleMeans(tuple(mean(s) for s in past_since), tuple(mean(_since(d, pays)) for d in ahead))
