"""Fraud features, computed one transaction at a time in time order: the same code builds training data
offline (a CSV replay) and serves the worker and the gRPC service online, so there is no train/serve skew.

For each transaction the engine first applies the labels that have become known by its time, then computes
its features from the state *before* it (plus the transaction itself where the Handbook includes it), then
adds it to the state. Features that need data the source lacks (a location, a merchant) are NaN, and the
trainer leaves out a feature that is NaN throughout its training data.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from services.fraud.events import Label, TxEvent
from services.fraud.windows import (
    MODERATE_SURPRISE,
    CustomerHistory,
    EntityActivity,
    EntityVolume,
    entity_state,
)

DAY = 86400.0
CUSTOMER_WINDOW_DAYS = (1, 7, 30)
TERMINAL_WINDOW_DAYS = (1, 7, 30)
VELOCITY_SECONDS = (600, 3600)
LAST_N = 5
CARD_PATTERN_DAYS = 14  # how far back earlier unusually large payments hint at a compromised card
CUSTOMER_HORIZON = max(CUSTOMER_WINDOW_DAYS) * DAY  # customer features look back at most this far

# The Handbook's 15 baseline features, in its order.
HANDBOOK_FEATURES: tuple[str, ...] = (
    "tx_amount", "tx_during_weekend", "tx_during_night",
    *(f"customer_{k}_{w}d" for w in CUSTOMER_WINDOW_DAYS for k in ("nb_tx", "avg_amount")),
    *(f"terminal_{k}_{w}d_delayed" for w in TERMINAL_WINDOW_DAYS for k in ("nb_tx", "risk")),
)
EXTRA_FEATURES: tuple[str, ...] = (
    "customer_nb_tx_10min", "customer_nb_tx_1h", "customer_amount_1h",
    "amount_to_customer_mean_30d", "amount_to_customer_median_30d", "amount_zscore_30d", "seconds_since_prev_tx",
    "first_use_terminal", "first_use_merchant",
    "km_from_usual_area", "km_from_prev_tx", "kmh_from_prev_tx",
    "terminal_known_frauds_recent", "terminal_risk_recent",
    "terminal_days_since_first_known_fraud", "terminal_days_since_last_known_fraud",
    "terminal_risk_last5_delayed",
    "merchant_risk_30d_delayed", "merchant_known_frauds_recent", "mcc_risk_30d_delayed",
    "customer_known_frauds_recent",
    "customer_large_payments_14d", "customer_max_surprise_14d",
    "amount_surprise_30d", "customer_amount_spread_30d", "customer_new_terminal_share_30d",
    "customer_surprise_last5_mean", "customer_surprising_share_14d",
)
FEATURE_NAMES: tuple[str, ...] = HANDBOOK_FEATURES + EXTRA_FEATURES
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
FEATURE_SET_VERSION = "fraud-features/4"  # 4: merchant and category windows counted in whole hours


@dataclass(frozen=True)
class FeatureConfig:
    """`label_delay_days`: how late labels arrive without feedback (the Handbook's delay); terminal windows
    are shifted back by it. The history horizon is the longest window plus the delay."""

    label_delay_days: float = 7.0

    @property
    def delay_seconds(self) -> float:
        return self.label_delay_days * DAY

    @property
    def horizon_seconds(self) -> float:
        return (max(TERMINAL_WINDOW_DAYS) + self.label_delay_days + 1) * DAY

    def to_dict(self) -> dict[str, Any]:
        return {"label_delay_days": self.label_delay_days, "feature_set": FEATURE_SET_VERSION}


_NAN = math.nan


class FeatureEngine:
    """Incremental feature state. Not thread-safe: one owner (a worker, or a service behind a lock)."""

    def __init__(self, config: FeatureConfig | None = None, *, track_dirty: bool = False,
                 remember: int = 0) -> None:
        """`track_dirty`: record which states change (the worker persists them). `remember` > 0: keep the
        features of that many transactions scored at authorization (`join=False`), so the same transaction seen
        again (a retried authorization, then the stream) gets the features it got then and is counted once.
        Transactions only the stream scored are not kept: a stream batch is never scored twice on one state."""
        self.config = config or FeatureConfig()
        self._recent: OrderedDict[str, array[float]] | None = OrderedDict() if remember > 0 else None
        self._remember = remember
        # least recently used first: a bounded cache of them (state_cache.py) evicts from the front
        self.customers: OrderedDict[str, CustomerHistory] = OrderedDict()
        # kind ("terminal", "merchant", "mcc") -> id -> activity
        self.entities: dict[str, OrderedDict[str, EntityActivity | EntityVolume]] = {
            "terminal": OrderedDict(), "merchant": OrderedDict(), "mcc": OrderedDict()}
        self.clock = -math.inf  # the latest transaction time seen
        self._pending: list[tuple[float, int, Label]] = []  # labels not yet known, by known_at
        self._seq = 0
        self._labelled: dict[str, float] = {}  # tx_id -> tx time, so a label applies once
        self._since_trim = 0
        self.track_dirty = track_dirty
        self.dirty: set[tuple[str, str]] = set()  # (kind, key) touched since the last drain
        # while tracking: what joined each shared (terminal / merchant / mcc) state since the last drain, so a
        # replica adds its own transactions and labels to the stored state instead of overwriting it
        self.added_times: dict[tuple[str, str], list[float]] = {}
        self.added_frauds: dict[tuple[str, str], list[tuple[float, str]]] = {}  # (time, transaction id)

    # ------------------------------------------------------------------ labels
    def add_label(self, label: Label) -> None:
        """Record a label; it affects features of transactions from `label.known_at` on."""
        if label.known_at <= self.clock:
            self._apply(label)
        else:
            self._seq += 1
            heapq.heappush(self._pending, (label.known_at, self._seq, label))

    def add_labels(self, labels: Iterable[Label]) -> None:
        for label in labels:
            self.add_label(label)

    def _advance(self, ts: float) -> None:
        pending = self._pending
        while pending and pending[0][0] <= ts:
            self._apply(heapq.heappop(pending)[2])

    def preview_label(self, label: Label) -> None:
        """Apply a fraud label to the shared (terminal, merchant, category) states in memory only (not remembered
        as applied, not tracked): an answer given over gRPC shows in this process's next score at once, while the
        answer's trip through `fraud-feedback` (to whichever replica consumes it) applies it for good."""
        if label.fraud and label.tx_ts > self.clock - self.config.horizon_seconds:
            for kind, key in (("terminal", label.terminal_id), ("merchant", label.merchant_id), ("mcc", label.mcc)):
                if key:
                    self._entity(kind, key, track=False).add_fraud(label.tx_ts, label.tx_id)

    def _apply(self, label: Label) -> None:
        if label.tx_id in self._labelled or label.tx_ts <= self.clock - self.config.horizon_seconds:
            return
        self._labelled[label.tx_id] = label.tx_ts
        if label.fraud:
            self._mark_fraud(label, track=self.track_dirty)

    def _mark_fraud(self, label: Label, track: bool) -> None:
        for kind, key in (("terminal", label.terminal_id), ("merchant", label.merchant_id),
                          ("mcc", label.mcc)):
            if key:
                self._entity(kind, key, track).add_fraud(label.tx_ts, label.tx_id)
                if track:
                    self.added_frauds.setdefault((kind, key), []).append((label.tx_ts, label.tx_id))
        cust = self._customer(label.customer_id, track)
        cust.fraud_times.append(label.tx_ts)
        cust.fraud_times.sort()

    # ------------------------------------------------------------------ transactions
    def process_batch(self, txs: Sequence[TxEvent], join: bool = True) -> np.ndarray:
        """Features of each transaction (in order, each seeing the ones before it); shape (n, features)."""
        out = np.empty((len(txs), len(FEATURE_NAMES)), dtype=np.float64)
        for i, tx in enumerate(txs):
            out[i] = self.process(tx, join)
        return out

    def process(self, tx: TxEvent, join: bool = True) -> list[float]:
        """The transaction's features; then (with `join`) the transaction joins the state, once: a transaction id
        already in its customer's history (persisted with it, so across restarts too) is scored without joining
        again. A transaction scored before (remembered) gets the features it got then; `join=False` (scoring at
        authorization) leaves the state as it was, so only the stream (one replica) adds a transaction."""
        cust = self.customers.get(tx.customer_id)
        new = cust is None or not cust.has(tx.tx_id)
        if self._recent is not None:
            seen = self._recent.get(tx.tx_id)
            if seen is not None:
                if join and new:
                    self._process(tx, join=True)
                return list(seen)
        feats = self._process(tx, join=join and new)
        if self._recent is not None and not join:
            self._recent[tx.tx_id] = array("d", feats)
            if len(self._recent) > self._remember:
                self._recent.popitem(last=False)
        return feats

    def _process(self, tx: TxEvent, join: bool = True) -> list[float]:
        # Kafka orders each customer's events, not the stream: a terminal shared by customers on different
        # partitions sees slightly out-of-order times, so histories insert in place and windows are bounded
        # on both sides. Labels are released by the latest time seen.
        t = tx.ts
        if t > self.clock:
            self._advance(t)
            self.clock = t
        delay = self.config.delay_seconds
        amount = tx.amount
        cust = self._customer(tx.customer_id, join)
        cust.expire(t - CUSTOMER_HORIZON)
        term = self._terminal(tx.terminal_id, join)

        # Each window is a pair of positions in a sorted history: the window's end (the transaction's time) is
        # found once and each start once, where the window methods of windows.py would search both ends again
        # for every feature. Same positions, same sums and differences: the very same values.
        day_index = math.floor(t / DAY)
        feats: list[float] = [amount,
                              1.0 if (day_index + 3) % 7 >= 5 else 0.0,  # 1970-01-01 was a Thursday
                              1.0 if (t - day_index * DAY) < 7 * 3600 else 0.0]  # hour <= 6
        times, base = cust.times, cust.base
        n = len(times) if not times or times[-1] <= t else bisect_right(times, t, base)
        cum_amount = cust.cum_amount
        i30 = n
        for w in CUSTOMER_WINDOW_DAYS:  # current transaction included, as in the Handbook
            i = bisect_right(times, t - w * DAY, base)
            if n <= i:
                feats.append(1.0)
                feats.append(amount / 1.0)
            else:
                feats.append(n - i + 1.0)
                feats.append((cum_amount[n] - cum_amount[i] + amount) / (n - i + 1.0))
            i30 = i  # the last window is 30 days, used again below
        hi = t - delay
        term_times, term_base, term_frauds = term.times, term.base, term.fraud_times
        j_hi = bisect_right(term_times, hi, term_base)
        f_hi = bisect_right(term_frauds, hi)
        for w in TERMINAL_WINDOW_DAYS:
            lo = hi - w * DAY
            nb = j_hi - bisect_right(term_times, lo, term_base)
            feats.append(float(nb))
            feats.append((f_hi - bisect_right(term_frauds, lo)) / nb if nb else 0.0)

        # velocity
        i = bisect_right(times, t - VELOCITY_SECONDS[0], base)
        n10 = n - i if n > i else 0
        i = bisect_right(times, t - VELOCITY_SECONDS[1], base)
        if n > i:
            n1h, s1h = n - i, cum_amount[n] - cum_amount[i]
        else:
            n1h, s1h = 0, 0.0
        feats.extend((n10 + 1.0, n1h + 1.0, s1h + amount))
        # amount against the customer's own history (current transaction excluded)
        median = _NAN
        if n > i30:
            n30 = n - i30
            s30 = cum_amount[n] - cum_amount[i30]
            q30 = cust.cum_sq[n] - cust.cum_sq[i30]
            mean = s30 / n30
            std = math.sqrt(max(q30 / n30 - mean * mean, 0.0))
            std = max(std, 0.1 * mean, 0.01)
            median = cust.median_amount()
            feats.append(amount / mean if mean > 0 else _NAN)
            feats.append(amount / median if median > 0 else _NAN)
            feats.append((amount - mean) / std)
        else:
            feats.extend((_NAN, _NAN, _NAN))
        feats.append(max(t - cust.last_ts, 0.0))  # NaN before the customer's first transaction
        novel = 0 if tx.terminal_id in cust.terminals else 1
        feats.append(float(novel))
        feats.append((0.0 if tx.merchant_id in cust.merchants else 1.0) if tx.merchant_id else _NAN)

        # geography: NaN when the source carries no location
        x, y = tx.x_km, tx.y_km
        located = not (math.isnan(x) or math.isnan(y))
        if located and cust.loc_n:
            feats.append(math.hypot(x - cust.loc_sx / cust.loc_n, y - cust.loc_sy / cust.loc_n))
        else:
            feats.append(_NAN)
        if located and not math.isnan(cust.last_x):
            km = math.hypot(x - cust.last_x, y - cust.last_y)
            hours = max((t - cust.last_ts) / 3600.0, 1.0 / 60.0)
            feats.extend((km, km / hours))
        else:
            feats.extend((_NAN, _NAN))

        # risk learnt from labels as they arrive: shifted by the delay, and recent (feedback) labels
        recent_frauds = bisect_right(term_frauds, t) - f_hi  # (t - delay, t]: t - delay is `hi`
        recent_nb = bisect_right(term_times, t, term_base) - j_hi
        feats.append(float(recent_frauds))
        feats.append(recent_frauds / recent_nb if recent_nb else 0.0)
        if term_frauds:  # within the horizon, sorted; an episode's age tells whether it may be over
            feats.extend(((t - term_frauds[0]) / DAY, (t - term_frauds[-1]) / DAY))
            # the share of fraud among the terminal's last 5 labelled transactions: steady when every card is
            # hit (a compromised terminal), diluted when one compromised card happened to pay there
            first = max(term_base, j_hi - LAST_N)
            feats.append((f_hi - bisect_right(term_frauds, term_times[first] - 1e-6)) / (j_hi - first)
                         if j_hi > first else 0.0)
        else:
            feats.extend((_NAN, _NAN, 0.0))
        if tx.merchant_id:
            merch = self._entity("merchant", tx.merchant_id, join)
            nb = merch.count(hi - 30 * DAY, hi)
            feats.append(merch.frauds(hi - 30 * DAY, hi) / nb if nb else 0.0)
            feats.append(float(merch.frauds(t - delay, t)))
        else:
            merch = None
            feats.extend((_NAN, _NAN))
        if tx.mcc:
            cat = self._entity("mcc", tx.mcc, join)
            nb = cat.count(hi - 30 * DAY, hi)
            feats.append(cat.frauds(hi - 30 * DAY, hi) / nb if nb else 0.0)
        else:
            cat = None
            feats.append(_NAN)
        feats.append(float(cust.known_frauds_since(t - delay)))
        # a compromised card: earlier payments far above the customer's usual amount in the last days, known
        # from the amounts alone (no label needed), so they count long before any fraud is reported
        surprises = cust.surprises
        i14 = bisect_right(times, t - CARD_PATTERN_DAYS * DAY, base)
        if n > i14:
            feats.append(float(cust.cum_high[n] - cust.cum_high[i14]))
            feats.append(max(0.0, max(surprises[i14:n])))
        else:
            feats.extend((0.0, 0.0))
        # the amount judged against the customer's own spread: heavy-tailed spenders are normal; kept with the
        # payment (0: not enough history to tell)
        spread = cust.log_spread()
        surprise = (math.log(amount / median) / spread
                    if amount > 0 and median > 0 and not math.isnan(spread) else _NAN)
        feats.append(surprise)
        feats.append(spread)
        feats.append((cust.cum_novel[n] - cust.cum_novel[i30]) / (n - i30) if n > i30 else _NAN)
        # the run of the last payments' surprises (windows.CustomerHistory.surprise_sequence)
        first = max(base, n - LAST_N)
        feats.append(sum(surprises[first:n]) / (n - first) if n > first else _NAN)
        feats.append(sum(1 for v in surprises[i14:n] if v >= MODERATE_SURPRISE) / (n - i14) if n > i14 else _NAN)
        if not join:
            return feats

        # the transaction joins the state
        horizon_start = t - self.config.horizon_seconds
        cust.append(t, amount, 0.0 if math.isnan(surprise) else surprise, novel, tx.tx_id)
        cust.terminals.add(tx.terminal_id)
        if tx.merchant_id:
            cust.merchants.add(tx.merchant_id)
        if located:
            cust.loc_n += 1
            cust.loc_sx += x
            cust.loc_sy += y
        if not t < cust.last_ts:  # the latest payment so far (NaN compares False: the first one too)
            cust.last_ts = t
            if located:
                cust.last_x, cust.last_y = x, y
        term.append(t, horizon_start)
        if merch is not None:
            merch.append(t, horizon_start)
        if cat is not None:
            cat.append(t, horizon_start)
        if self.track_dirty:
            self.dirty.add(("customer", tx.customer_id))
            added = self.added_times
            added.setdefault(("terminal", tx.terminal_id), []).append(t)
            self.dirty.add(("terminal", tx.terminal_id))
            if merch is not None:
                added.setdefault(("merchant", tx.merchant_id), []).append(t)
                self.dirty.add(("merchant", tx.merchant_id))
            if cat is not None:
                added.setdefault(("mcc", tx.mcc), []).append(t)
                self.dirty.add(("mcc", tx.mcc))
        self._since_trim += 1
        if self._since_trim >= 50_000:
            self._trim_labelled()
        return feats

    # ------------------------------------------------------------------ state
    def _customer(self, key: str, track: bool = True) -> CustomerHistory:
        cust = self.customers.get(key)
        if cust is None:
            cust = self.customers[key] = CustomerHistory()
        else:
            self.customers.move_to_end(key)  # most recently used last (a bounded cache evicts from the front)
        if track and self.track_dirty:
            self.dirty.add(("customer", key))
        return cust

    def _terminal(self, key: str, track: bool = True) -> EntityActivity:
        return cast(EntityActivity, self._entity("terminal", key, track))

    def _entity(self, kind: str, key: str, track: bool = True) -> EntityActivity | EntityVolume:
        table = self.entities[kind]
        ent = table.get(key)
        if ent is None:
            ent = table[key] = entity_state(kind)()
        else:
            table.move_to_end(key)
        if track and self.track_dirty:
            self.dirty.add((kind, key))
        return ent

    def _trim_labelled(self) -> None:
        self._since_trim = 0
        cutoff = self.clock - self.config.horizon_seconds
        self._labelled = {k: v for k, v in self._labelled.items() if v > cutoff}

    def drain_dirty(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The states touched since the last drain, as (kind, key, JSON-able dict), for persisting."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        for kind, key in sorted(self.dirty):
            state = self.customers.get(key) if kind == "customer" else self.entities[kind].get(key)
            if state is not None:
                out.append((kind, key, state.to_dict()))
        self.dirty.clear()
        self.added_times.clear()
        self.added_frauds.clear()
        return out

    def load_entry(self, kind: str, key: str, state: dict[str, Any]) -> None:
        """Restore one persisted state (see `drain_dirty`)."""
        entry = (CustomerHistory if kind == "customer" else entity_state(kind)).from_dict(state)
        if isinstance(entry, CustomerHistory):
            self.customers[key] = entry
        else:
            self.entities[kind][key] = entry
        times = entry.times if isinstance(entry, CustomerHistory | EntityActivity) else ()
        if times:
            self.clock = max(self.clock, times[-1])

    def snapshot(self) -> dict[str, Any]:
        """The whole state as one JSON-able dict (pending labels included)."""
        return {
            "config": self.config.to_dict(),
            "clock": self.clock if math.isfinite(self.clock) else None,
            "customers": {k: v.to_dict() for k, v in self.customers.items()},
            "entities": {kind: {k: v.to_dict() for k, v in table.items()}
                         for kind, table in self.entities.items()},
            "pending": [_label_to_dict(lbl) for _, _, lbl in sorted(self._pending)],
            "labelled": self._labelled,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], *, track_dirty: bool = False) -> FeatureEngine:
        engine = cls(FeatureConfig(label_delay_days=float(snap["config"]["label_delay_days"])),
                     track_dirty=track_dirty)
        for key, state in snap["customers"].items():
            engine.customers[key] = CustomerHistory.from_dict(state)
        for kind, table in snap["entities"].items():
            for key, state in table.items():
                engine.entities[kind][key] = entity_state(kind).from_dict(state)
        engine.clock = -math.inf if snap["clock"] is None else float(snap["clock"])
        engine._labelled = {k: float(v) for k, v in snap["labelled"].items()}
        for d in snap["pending"]:
            engine.add_label(Label(**d))
        return engine


def _label_to_dict(label: Label) -> dict[str, Any]:
    return {"tx_id": label.tx_id, "customer_id": label.customer_id, "terminal_id": label.terminal_id,
            "merchant_id": label.merchant_id, "mcc": label.mcc, "tx_ts": label.tx_ts,
            "fraud": label.fraud, "known_at": label.known_at}
