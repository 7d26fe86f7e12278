"""Incremental, time-windowed state per customer and per terminal / merchant / category.

Events arrive in time order, so each history is an append-only list of times with prefix sums; a window
count or sum is two binary searches and a subtraction. Old entries are dropped past the horizon, so memory is
bounded by the longest window: a customer's and a terminal's by their own payments in it, a merchant's and a
category's (paid at by the whole bank) by counting per hour. Every state converts to and from a JSON-able dict
(the worker persists the entries a batch touched and restores them after a restart).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from typing import Any

_COMPACT_MIN = 64  # drop expired entries once at least this many accumulated (amortised O(1))
# A payment whose amount is at least this many of the customer's own spreads above their median (in logs) is
# "unusually large" for them: x5 the usual for a steady spender, x20 for a heavy-tailed one.
HIGH_SURPRISE = 2.5
MODERATE_SURPRISE = 1.5  # one of a run of somewhat unusual payments
MIN_SPREAD = 0.3  # the floor of a customer's log-amount spread (a spender who always pays the same)
MIN_SPREAD_HISTORY = 4  # payments needed before the spread means anything
BUCKET_SECONDS = 3600  # merchants and categories count their transactions per hour (EntityVolume)


class CustomerHistory:
    """A customer's recent transactions (time, amount), where they were, and what they used before."""

    __slots__ = ("_id_set", "amounts", "base", "cum_amount", "cum_high", "cum_novel", "cum_sq", "fraud_times", "ids",
                 "last_ts", "last_x", "last_y", "loc_n", "loc_sx", "loc_sy", "merchants", "novel", "sorted_amounts",
                 "surprises", "terminals", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[str] = []  # each payment's transaction id: the same payment seen again counts once
        self._id_set: set[str] | None = None  # the same ids, for `has` (built when first asked, dropped by compaction)
        self.amounts: list[float] = []
        self.sorted_amounts: list[float] = []  # amounts inside the horizon, sorted (for the median)
        self.cum_amount: list[float] = [0.0]  # cum_amount[i] = sum of the first i amounts
        self.cum_sq: list[float] = [0.0]
        # each payment's surprise (log amount above the median then, in the customer's own spreads; 0 without
        # enough history) and the prefix count of those at or above HIGH_SURPRISE: a compromised card shows
        # several within days, a heavy-tailed spender no more than usual
        self.surprises: list[float] = []
        self.cum_high: list[int] = [0]
        # 1 for a payment at a terminal the customer had never used, and its prefix count: how much novelty is
        # usual for this customer (an online shopper's new shops are not a stolen card)
        self.novel: list[int] = []
        self.cum_novel: list[int] = [0]
        self.base = 0  # index of the first entry inside the horizon
        self.terminals: set[str] = set()
        self.merchants: set[str] = set()
        self.last_ts = math.nan
        self.last_x = math.nan
        self.last_y = math.nan
        self.loc_n = 0
        self.loc_sx = 0.0
        self.loc_sy = 0.0
        self.fraud_times: list[float] = []  # times of this customer's transactions known to be fraud

    def window(self, since: float, until: float) -> tuple[int, float, float]:
        """(count, sum, sum of squares) of amounts with since < time <= until, current transaction excluded."""
        times = self.times
        n = len(times) if not times or times[-1] <= until else bisect_right(times, until, self.base)
        i = bisect_right(times, since, self.base)
        if n <= i:
            return 0, 0.0, 0.0
        return n - i, self.cum_amount[n] - self.cum_amount[i], self.cum_sq[n] - self.cum_sq[i]

    def large_payments(self, since: float, until: float) -> tuple[int, float]:
        """(count of payments with surprise >= HIGH_SURPRISE, the largest surprise) with since < time <= until,
        current transaction excluded; (0, 0.0) when there are none."""
        times = self.times
        n = len(times) if not times or times[-1] <= until else bisect_right(times, until, self.base)
        i = bisect_right(times, since, self.base)
        if n <= i:
            return 0, 0.0
        return self.cum_high[n] - self.cum_high[i], max(0.0, max(self.surprises[i:n]))

    def surprise_sequence(self, since: float, until: float, last: int) -> tuple[float, float]:
        """(mean surprise of the last `last` payments, share of payments with since < time <= until at or above
        MODERATE_SURPRISE), current transaction excluded; NaN when there are none. A compromised card's fraudster
        pays a multiple of the usual amount every few payments: each one alone may be ordinary for the customer,
        their run is not."""
        times = self.times
        n = len(times) if not times or times[-1] <= until else bisect_right(times, until, self.base)
        i = bisect_right(times, since, self.base)
        lo = max(self.base, n - last)
        mean = sum(self.surprises[lo:n]) / (n - lo) if n > lo else math.nan
        if n <= i:
            return mean, math.nan
        return mean, sum(1 for v in self.surprises[i:n] if v >= MODERATE_SURPRISE) / (n - i)

    def novel_share(self, since: float, until: float) -> float:
        """Share of payments at a first-used terminal with since < time <= until; NaN when there are none."""
        times = self.times
        n = len(times) if not times or times[-1] <= until else bisect_right(times, until, self.base)
        i = bisect_right(times, since, self.base)
        return (self.cum_novel[n] - self.cum_novel[i]) / (n - i) if n > i else math.nan

    def log_spread(self) -> float:
        """The customer's own spread of amounts: interquartile range of log amounts / 1.349 (a standard
        deviation for log-normal spending, robust to a few fraudulent amounts), floored at MIN_SPREAD; NaN
        with fewer than MIN_SPREAD_HISTORY payments."""
        s = self.sorted_amounts
        n = len(s)
        if n < MIN_SPREAD_HISTORY:
            return math.nan
        lo, hi = s[n // 4], s[(3 * n) // 4]
        if lo <= 0:
            return math.nan
        return max(math.log(hi / lo) / 1.349, MIN_SPREAD)

    def known_frauds_since(self, since: float) -> int:
        return len(self.fraud_times) - bisect_right(self.fraud_times, since)

    def median_amount(self) -> float:
        """Median amount inside the horizon (robust to a few large fraudulent amounts); NaN if none."""
        s = self.sorted_amounts
        n = len(s)
        if not n:
            return math.nan
        return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])

    def expire(self, horizon_start: float) -> None:
        """Forget transactions at or before `horizon_start`."""
        new_base = bisect_right(self.times, horizon_start, self.base)
        for i in range(self.base, new_base):
            amount = self.amounts[i]
            j = bisect_left(self.sorted_amounts, amount)
            del self.sorted_amounts[j]
        self.base = new_base
        if self.base >= _COMPACT_MIN:
            self._compact()
        if self.fraud_times and self.fraud_times[0] <= horizon_start:
            del self.fraud_times[: bisect_right(self.fraud_times, horizon_start)]

    def has(self, tx_id: str) -> bool:
        """Whether the payment is already in the history (scored at authorization, then seen on the stream)."""
        if self._id_set is None:
            self._id_set = set(self.ids)
        return tx_id in self._id_set

    def append(self, ts: float, amount: float, surprise: float = 0.0, novel: int = 0, tx_id: str = "") -> None:
        insort(self.sorted_amounts, amount)
        if self._id_set is not None:
            self._id_set.add(tx_id)
        if self.times and ts < self.times[-1]:  # a late arrival: insert in place, rebuild the sums after it
            i = bisect_right(self.times, ts, self.base)
            self.times.insert(i, ts)
            self.ids.insert(i, tx_id)
            self.amounts.insert(i, amount)
            self.surprises.insert(i, surprise)
            self.novel.insert(i, novel)
            del self.cum_amount[i + 1:]
            del self.cum_sq[i + 1:]
            del self.cum_high[i + 1:]
            del self.cum_novel[i + 1:]
            for a, r, v in zip(self.amounts[i:], self.surprises[i:], self.novel[i:], strict=True):
                self.cum_amount.append(self.cum_amount[-1] + a)
                self.cum_sq.append(self.cum_sq[-1] + a * a)
                self.cum_high.append(self.cum_high[-1] + (r >= HIGH_SURPRISE))
                self.cum_novel.append(self.cum_novel[-1] + v)
            return
        self.times.append(ts)
        self.ids.append(tx_id)
        self.amounts.append(amount)
        self.surprises.append(surprise)
        self.novel.append(novel)
        self.cum_amount.append(self.cum_amount[-1] + amount)
        self.cum_sq.append(self.cum_sq[-1] + amount * amount)
        self.cum_high.append(self.cum_high[-1] + (surprise >= HIGH_SURPRISE))
        self.cum_novel.append(self.cum_novel[-1] + novel)

    def compact(self) -> None:
        """Drop the expired entries now (before the state is stored)."""
        self._compact()

    def _compact(self) -> None:
        b = self.base
        a0, s0 = self.cum_amount[b], self.cum_sq[b]
        h0, v0 = self.cum_high[b], self.cum_novel[b]
        del self.times[:b]
        del self.ids[:b]
        if b:
            self._id_set = None
        del self.amounts[:b]
        del self.surprises[:b]
        del self.novel[:b]
        self.cum_amount = [v - a0 for v in self.cum_amount[b:]]
        self.cum_sq = [v - s0 for v in self.cum_sq[b:]]
        self.cum_high = [v - h0 for v in self.cum_high[b:]]
        self.cum_novel = [v - v0 for v in self.cum_novel[b:]]
        self.base = 0

    def to_dict(self) -> dict[str, Any]:
        self._compact()
        return {
            "times": self.times, "ids": self.ids, "amounts": self.amounts, "surprises": self.surprises,
            "novel": self.novel,
            "terminals": sorted(self.terminals), "merchants": sorted(self.merchants),
            "last": [_nan_to_none(self.last_ts), _nan_to_none(self.last_x), _nan_to_none(self.last_y)],
            "loc": [self.loc_n, self.loc_sx, self.loc_sy], "fraud_times": self.fraud_times,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CustomerHistory:
        h = cls()
        # states persisted before surprises / novelty were kept: none (the card pattern restarts from here)
        surprises = d.get("surprises") or [0.0] * len(d["times"])
        novel = d.get("novel") or [0] * len(d["times"])
        ids = d.get("ids") or [""] * len(d["times"])
        for ts, tx_id, amount, surprise, new in zip(d["times"], ids, d["amounts"], surprises, novel, strict=True):
            h.append(float(ts), float(amount), float(surprise), int(new), str(tx_id))
        h.terminals = set(d["terminals"])
        h.merchants = set(d["merchants"])
        h.last_ts, h.last_x, h.last_y = (_none_to_nan(v) for v in d["last"])
        h.loc_n, h.loc_sx, h.loc_sy = int(d["loc"][0]), float(d["loc"][1]), float(d["loc"][2])
        h.fraud_times = [float(v) for v in d["fraud_times"]]
        return h


class KnownFrauds:
    """The fraud labels of a terminal, merchant or merchant category inside the horizon."""

    __slots__ = ("fraud_ids", "fraud_times")

    def __init__(self) -> None:
        self.fraud_times: list[float] = []  # sorted by transaction time; labels may arrive out of order
        # the transaction id of each fraud label ("" when unknown), so the same label is counted once when
        # replicas add their labels to a shared state; two frauds at the same second are two
        self.fraud_ids: list[str] = []

    def frauds(self, after: float, until: float) -> int:
        """Known frauds with after < transaction time <= until."""
        return bisect_right(self.fraud_times, until) - bisect_right(self.fraud_times, after)

    def add_fraud(self, tx_ts: float, tx_id: str = "") -> None:
        """A fraud label; one whose transaction id is already known is not added again."""
        if tx_id:  # the same label has the same time (to within the rounding of the paths it came by)
            lo, hi = bisect_left(self.fraud_times, tx_ts - 1e-3), bisect_right(self.fraud_times, tx_ts + 1e-3)
            if tx_id in self.fraud_ids[lo:hi]:
                return
        i = bisect_right(self.fraud_times, tx_ts)
        self.fraud_times.insert(i, tx_ts)
        self.fraud_ids.insert(i, tx_id)

    def _expire_frauds(self, horizon_start: float) -> None:
        if self.fraud_times and self.fraud_times[0] <= horizon_start:
            n = bisect_right(self.fraud_times, horizon_start)
            del self.fraud_times[:n]
            del self.fraud_ids[:n]

    def _frauds_from_dict(self, d: dict[str, Any]) -> None:
        self.fraud_times = [float(v) for v in d.get("fraud_times", ())]
        self.fraud_ids = [str(v) for v in d.get("fraud_ids", ())] or [""] * len(self.fraud_times)


class EntityActivity(KnownFrauds):
    """Transactions seen at a terminal (each one's time), and those known to be fraud."""

    __slots__ = ("base", "times")

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.base = 0

    def count(self, after: float, until: float) -> int:
        """Transactions with after < time <= until."""
        return bisect_right(self.times, until, self.base) - bisect_right(self.times, after, self.base)

    def last_n_risk(self, until: float, n: int) -> float:
        """Share of known frauds among the last `n` transactions at or before `until` (0 when none)."""
        j = bisect_right(self.times, until, self.base)
        i = max(self.base, j - n)
        if j <= i:
            return 0.0
        return self.frauds(self.times[i] - 1e-6, until) / (j - i)

    def append(self, ts: float, horizon_start: float) -> None:
        if self.times and ts < self.times[-1]:
            insort(self.times, ts, self.base)  # another partition's customer paid here a moment earlier
        else:
            self.times.append(ts)
        self.base = bisect_right(self.times, horizon_start, self.base)
        if self.base >= _COMPACT_MIN:
            del self.times[: self.base]
            self.base = 0
        self._expire_frauds(horizon_start)

    def merge(self, times: list[float], frauds: list[tuple[float, str]], horizon_start: float) -> None:
        """Add another replica's (or this batch's) transactions and fraud labels (time, transaction id)."""
        for ts in sorted(times):
            self.append(ts, horizon_start)
        for ts, tx_id in frauds:
            self.add_fraud(ts, tx_id)
        self._expire_frauds(horizon_start)

    def to_dict(self) -> dict[str, Any]:
        return {"times": self.times[self.base:], "fraud_times": self.fraud_times, "fraud_ids": self.fraud_ids}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EntityActivity:
        e = cls()
        e.times = [float(v) for v in d.get("times", ())]  # an empty stored row ({}) is an entity seen by no one yet
        e._frauds_from_dict(d)
        return e


class EntityVolume(KnownFrauds):
    """Transactions seen at a merchant or in a merchant category, counted per hour, and those known to be fraud.

    A merchant or a category is paid at by the whole bank: a list of its transaction times (as a terminal keeps)
    would follow the bank's volume, ~400,000 times a category at 100,000 customers over the 38-day horizon, in
    memory and in a JSON row rewritten by every batch. Counts per hour (`BUCKET_SECONDS`) keep at most one bucket
    per hour of the horizon (913), whatever the volume. Windows are counted in whole hours: both ends of a window
    move to the end of the hour they fall in, for the transactions and for the frauds alike, so a risk (frauds /
    transactions) stays a share of the same transactions (a 30-day window gains or loses under an hour at
    each end).
    """

    __slots__ = ("cum", "hours")

    def __init__(self) -> None:
        super().__init__()
        self.hours: list[int] = []  # hour indexes (time // BUCKET_SECONDS) with transactions, ascending
        self.cum: list[int] = [0]  # cum[i]: transactions in the first i buckets

    def count(self, after: float, until: float) -> int:
        """Transactions in the hours after `after`'s hour, up to and including `until`'s hour."""
        return self.cum[bisect_right(self.hours, _hour(until))] - self.cum[bisect_right(self.hours, _hour(after))]

    def frauds(self, after: float, until: float) -> int:
        """Known frauds counted by the same hours as `count`: with a transaction time from the end of `after`'s
        hour to before the end of `until`'s."""
        times = self.fraud_times
        return (bisect_left(times, (_hour(until) + 1) * BUCKET_SECONDS)
                - bisect_left(times, (_hour(after) + 1) * BUCKET_SECONDS))

    def append(self, ts: float, horizon_start: float) -> None:
        self._add(_hour(ts), 1)
        self._expire(horizon_start)

    def _add(self, hour: int, n: int) -> None:
        hours, cum = self.hours, self.cum
        if not hours or hour > hours[-1]:
            hours.append(hour)
            cum.append(cum[-1] + n)
            return
        i = bisect_left(hours, hour)
        if hours[i] != hour:  # an hour before the latest one, not seen yet (another partition, a moment behind)
            hours.insert(i, hour)
            cum.insert(i + 1, cum[i])
        for j in range(i + 1, len(cum)):
            cum[j] += n

    def _expire(self, horizon_start: float) -> None:
        """Forget the hours wholly at or before `horizon_start` (the one it falls in stays)."""
        n = bisect_left(self.hours, _hour(horizon_start))
        if n:
            del self.hours[:n]
            gone = self.cum[n]
            self.cum = [v - gone for v in self.cum[n:]]
        self._expire_frauds(horizon_start)

    def merge(self, times: list[float], frauds: list[tuple[float, str]], horizon_start: float) -> None:
        """Add another replica's (or this batch's) transactions and fraud labels (time, transaction id)."""
        for ts in times:
            self._add(_hour(ts), 1)
        for ts, tx_id in frauds:
            self.add_fraud(ts, tx_id)
        self._expire(horizon_start)

    def to_dict(self) -> dict[str, Any]:
        counts = [b - a for a, b in zip(self.cum, self.cum[1:], strict=False)]
        return {"hours": self.hours, "counts": counts, "fraud_times": self.fraud_times, "fraud_ids": self.fraud_ids}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EntityVolume:
        e = cls()
        # a row written before the counts (a list of times, as a terminal's) is counted into hours
        pairs = [(int(h), int(n)) for h, n in zip(d.get("hours", ()), d.get("counts", ()), strict=True)]
        pairs += [(_hour(float(ts)), 1) for ts in d.get("times", ())]
        for hour, n in sorted(pairs):
            e._add(hour, n)
        e._frauds_from_dict(d)
        return e


def _hour(t: float) -> int:
    return int(t // BUCKET_SECONDS)


def entity_state(kind: str) -> type[EntityActivity] | type[EntityVolume]:
    """The state class of an entity kind: terminals keep each time (the last-5 risk needs them), merchants and
    categories count per hour."""
    return EntityActivity if kind == "terminal" else EntityVolume


def _nan_to_none(v: float) -> float | None:
    return None if math.isnan(v) else v


def _none_to_nan(v: float | None) -> float:
    return math.nan if v is None else float(v)
