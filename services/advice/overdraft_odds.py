"""The chance that the balance goes below zero in the next few days, from the customer's own spending.

The forecast's scheduled path (today's balance, plus the income and minus the bills and subscriptions the
series expect, day by day, with no discretionary spending) is taken down by what the customer may spend over
the k days to each day. How much that is comes from the customer's own past days, not an average day: every
window of k consecutive days in the recent history (e.g. 56 days give 53 windows of 4 days) is one way the
next k days could go, so a customer who spends in lumps gets the lumps' odds, and the spread grows with the
days ahead as the sums do. The chance for a day is the share of windows that would take the balance below
zero on it; the warning's chance is the highest over the days of the lead window.

Pure and deterministic: no sampling, so the same history always gives the same chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Odds:
    chance: float  # the highest chance of being below zero on one day of the window (0..1)
    day: date  # the first day whose chance reaches `min_chance` (else the most likely day)
    balance_minor: int  # the balance that day if spending comes in at the `quantile` of its k-day sums


def window_sums(daily: Sequence[int], k: int) -> list[int]:
    """Every sum of `k` consecutive days of `daily` (k = 0: one sum of nothing)."""
    if k <= 0:
        return [0]
    if k > len(daily):
        return []
    total = sum(daily[:k])
    sums = [total]
    for i in range(k, len(daily)):
        total += daily[i] - daily[i - k]
        sums.append(total)
    return sums


def share_above(sums: Sequence[int], limit: int) -> float:
    """The share of the sums greater than `limit` (spending more than the balance can take)."""
    return sum(s > limit for s in sums) / len(sums) if sums else 0.0


def quantile(sums: Sequence[int], q: float) -> int:
    """The lower empirical q-quantile (no interpolation: an amount the customer really spent)."""
    ordered = sorted(sums)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def overdraft_odds(scheduled: Sequence[tuple[date, int]], daily: Sequence[int], lead_days: int, min_chance: float,
                   spend_quantile: float, overdrawn: bool = False,
                   peaks: Sequence[tuple[date, int]] | None = None) -> Odds | None:
    """The chance of a new overdraft within `lead_days` of `scheduled[0]` (today).

    `scheduled` is the end-of-day balance of each day from today with the scheduled payments only; `daily` is
    the customer's discretionary spending of each past day (oldest first). A customer already below zero
    (`overdrawn`) is judged from the pay that ends this overdraft: the first day whose credits, booked before
    its debits (`peaks`: each day's balance after its credits; the end-of-day path when not given), take the
    balance to zero or above at the median spending until then. Only a new overdraft counts: from that day on,
    the runs of spending that leave the pay above zero (the overdraft really ends) and take the balance below
    zero again on the day judged (a bill, or the day's spending, right after the pay, or later). A day with no
    credit (no pay known: gig income) ends the overdraft at the end of the day before. None when nothing can be
    judged."""
    if not scheduled or not daily:
        return None
    window = scheduled[: lead_days + 1]
    peaks = peaks or scheduled
    ends = 0  # the day the pay ends the current overdraft
    cleared: list[int] | None = None  # each run's spending before that day, when its pay comes with a credit
    peak = 0
    if overdrawn:
        ends = next((k for k in range(1, len(window))
                     if peaks[k][1] - quantile(window_sums(daily, k - 1), 0.5) >= 0), len(window))
        if ends < len(window) and peaks[ends][1] > window[ends - 1][1]:
            peak = peaks[ends][1]
            cleared = window_sums(daily, ends - 1) if ends > 1 else [0] * (len(daily) + 1 - ends)
    best: Odds | None = None
    for k in range(ends, len(window)):
        day, balance = window[k]
        sums = window_sums(daily, k)
        if not sums:
            break
        if cleared is not None:  # the runs whose spending leaves the pay above zero, then below zero on day k
            chance = sum(b <= peak and s > balance for b, s in zip(cleared, sums, strict=False)) / len(sums)
        else:
            chance = share_above(sums, balance)
        odds = Odds(chance, day, balance - quantile(sums, spend_quantile))
        if chance >= min_chance:
            return odds
        if best is None or chance > best.chance:
            best = odds
    return best
