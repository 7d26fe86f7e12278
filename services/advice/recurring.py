"""Recurring-series detection (salaries, bills, subscriptions), updated one transaction at a time.

A series is a payee paid (or paying) on a weekly, fortnightly or monthly cadence. Detection follows the
published open-source approaches (Actual Budget, Maybe/Sure, Plaid recurring streams):
- two payments to the same payee, amounts within the kind's tolerance, an interval fitting a cadence -> EARLY;
- a third payment within the date tolerance of the predicted date -> MATURE;
- `misses_to_end` predicted dates passing without a payment -> ENDED.
Each series predicts its next date (`next_due`). Monthly series keep their day of month (an occasionally
late salary does not shift the next prediction).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median

from services.advice import income
from services.advice.facts import TxFacts
from services.advice.policy import RecurringConfig

EARLY = "EARLY"
MATURE = "MATURE"
ENDED = "ENDED"

WEEKLY = "WEEKLY"
FORTNIGHTLY = "FORTNIGHTLY"
MONTHLY = "MONTHLY"
_PERIOD_DAYS = {WEEKLY: 7, FORTNIGHTLY: 14, MONTHLY: 30}

# Channels whose payee is a mandate or a payroll: the same payee id is the same series whatever the amount.
SCHEDULED_CHANNELS = frozenset({"DIRECT_DEBIT", "MORTGAGE_PAYMENT", "SALARY", "TRANSFER_IN", "TRANSFER_OUT",
                                "INTEREST"})

SALARY = "SALARY"
INCOME = "INCOME"
BILL = "BILL"
SUBSCRIPTION = "SUBSCRIPTION"
TRANSFER = "TRANSFER"
OTHER = "OTHER"


@dataclass
class Occurrence:
    day: date
    amount_minor: int
    tx_id: str

    def to_list(self) -> list[object]:
        return [self.day.isoformat(), self.amount_minor, self.tx_id]

    @classmethod
    def from_list(cls, raw: list[object]) -> Occurrence:
        return cls(date.fromisoformat(str(raw[0])), int(raw[1]), str(raw[2]))  # type: ignore[call-overload]


@dataclass
class Series:
    key: str
    name: str
    kind: str
    is_credit: bool
    period: str
    anchor_day: int  # day of month for MONTHLY, 0 otherwise
    status: str
    next_due: date
    occurrences: list[Occurrence] = field(default_factory=list)
    matched_total: int = 0  # occurrences ever matched (the kept list is capped)
    first_day: date | None = None
    rhythm: str = ""  # income series: the income model's rhythm once trusted (income.RHYTHMS)

    @property
    def last_amount_minor(self) -> int:
        return self.occurrences[-1].amount_minor

    @property
    def previous_amount_minor(self) -> int | None:
        return self.occurrences[-2].amount_minor if len(self.occurrences) >= 2 else None

    @property
    def typical_amount_minor(self) -> int:
        """The amount to expect next: the latest payment (a price change carries forward)."""
        return self.last_amount_minor

    @property
    def active(self) -> bool:
        return self.status != ENDED

    def period_days(self) -> int:
        return _PERIOD_DAYS[self.period]

    def due_dates(self, start: date, end: date) -> list[date]:
        """Predicted dates in [start, end), starting from `next_due`."""
        dates: list[date] = []
        due = self.next_due
        while due < end:
            if due >= start:
                dates.append(due)
            due = _advance(due, self.period, self.anchor_day)
        return dates

    def days_overdue(self, today: date) -> int:
        return (today - self.next_due).days

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key, "name": self.name, "kind": self.kind, "credit": self.is_credit,
            "period": self.period, "anchor": self.anchor_day, "status": self.status,
            "next_due": self.next_due.isoformat(), "occ": [o.to_list() for o in self.occurrences],
            "matched": self.matched_total,
            "first": self.first_day.isoformat() if self.first_day else None,
            "rhythm": self.rhythm,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Series:
        first = raw.get("first")
        return cls(
            key=str(raw["key"]), name=str(raw["name"]), kind=str(raw["kind"]), is_credit=bool(raw["credit"]),
            period=str(raw["period"]), anchor_day=int(raw["anchor"]),  # type: ignore[call-overload]
            status=str(raw["status"]), next_due=date.fromisoformat(str(raw["next_due"])),
            occurrences=[Occurrence.from_list(o) for o in raw["occ"]],  # type: ignore[attr-defined]
            matched_total=int(raw["matched"]),  # type: ignore[call-overload]
            first_day=date.fromisoformat(str(first)) if first else None,
            rhythm=str(raw.get("rhythm", "")),
        )


@dataclass(frozen=True)
class SeriesEvent:
    """What one transaction did to the recurring picture."""

    series: Series
    kind: str  # "DETECTED" (became EARLY), "MATURED", "OCCURRED" (a further payment)
    previous_amount_minor: int | None
    on_schedule: bool


def classify_kind(tx: TxFacts, config: RecurringConfig) -> str:
    if tx.is_credit:
        return SALARY if tx.channel == "SALARY" else INCOME
    text = f"{tx.description} {tx.payee_name}".lower()
    if tx.mcc in config.subscription_mccs or any(k in text for k in config.subscription_keywords):
        return SUBSCRIPTION
    if tx.channel in ("DIRECT_DEBIT", "MORTGAGE_PAYMENT"):
        return BILL
    if tx.channel == "TRANSFER_OUT":
        return TRANSFER
    if tx.channel == "CARD_NOT_PRESENT":
        return SUBSCRIPTION
    return OTHER


def series_key(tx: TxFacts) -> str:
    """Direction plus the payee's stable identity; "" when the transaction names no payee."""
    if not tx.payee_key:
        return ""
    return ("C:" if tx.is_credit else "D:") + tx.payee_key


def card_tolerance(config: RecurringConfig) -> float:
    return config.amount_tolerance_pct.get("CARD", 1.0)


def amount_tolerance(tx: TxFacts, config: RecurringConfig) -> float:
    """Card payments to a merchant must repeat almost exactly; mandates and payroll by their kind's tolerance."""
    if tx.channel not in SCHEDULED_CHANNELS:
        return card_tolerance(config)
    return config.amount_tolerance_pct.get(classify_kind(tx, config), 7.5)


def amounts_agree(a: int, b: int, tolerance_pct: float) -> bool:
    reference = max(abs(a), abs(b), 1)
    return abs(a - b) * 100.0 <= tolerance_pct * reference


def fit_period(interval_days: int, config: RecurringConfig) -> str | None:
    for period, (low, high) in config.period_interval_days.items():
        if low <= interval_days <= high:
            return period
    return None


def matches_series(series: Series, tx: TxFacts, config: RecurringConfig) -> bool:
    """Does `tx` look like the series' next payment?

    The date must be no earlier than the predicted date minus the tolerance and no later than the point the
    series would end. The amount is not checked for a stable payee id (a price change is still the same
    subscription: the rules compare the amounts); it must agree for series keyed on a description.
    """
    if not series.active:
        return False
    day = tx.timestamp.date()
    tolerance = config.date_tolerance_days[series.period]
    earliest = series.next_due - timedelta(days=tolerance)
    if series.is_credit and series.period == MONTHLY:
        # income paid every four weeks lands 28 days on, days before a monthly series' day of the month, and two
        # payments cannot tell the two rhythms apart: the shortest monthly interval is early enough (a payment
        # missed here would leave a gap, and the income would read as irregular)
        shortest = config.period_interval_days[MONTHLY][0]
        earliest = min(earliest, series.occurrences[-1].day + timedelta(days=shortest))
    latest = series.next_due + timedelta(days=series.period_days() * config.misses_to_end)
    if not earliest <= day < latest:
        return False
    if tx.channel in SCHEDULED_CHANNELS:
        return True  # a mandate or payroll: the payee is certain, so a new amount is a price change
    # A card payment to the same merchant: the amount must agree, unless a mature series is charged on its day
    # (a card subscription's price change).
    on_day = abs((day - series.next_due).days) <= tolerance
    return (amounts_agree(series.last_amount_minor, tx.amount_minor, card_tolerance(config))
            or (series.status == MATURE and on_day))


def start_series(
    key: str, first: Occurrence, tx: TxFacts, period: str, config: RecurringConfig
) -> Series:
    day = tx.timestamp.date()
    anchor = anchor_day_of([first.day, day]) if period == MONTHLY else 0
    series = Series(
        key=key, name=tx.payee_name or tx.description or key, kind=classify_kind(tx, config),
        is_credit=tx.is_credit, period=period, anchor_day=anchor, status=EARLY,
        next_due=next_due_after(day, period, anchor, config),
        occurrences=[first, Occurrence(day, tx.amount_minor, tx.id)], matched_total=2, first_day=first.day,
    )
    _follow_income_model(series)
    return series


def record_occurrence(series: Series, tx: TxFacts, config: RecurringConfig) -> SeriesEvent:
    day = tx.timestamp.date()
    tolerance = config.date_tolerance_days[series.period]
    on_schedule = abs((day - series.next_due).days) <= tolerance
    previous = series.last_amount_minor
    series.occurrences.append(Occurrence(day, tx.amount_minor, tx.id))
    del series.occurrences[: -config.max_occurrences_kept]
    series.matched_total += 1
    if series.period == MONTHLY:
        series.anchor_day = anchor_day_of([o.day for o in series.occurrences])
    series.next_due = next_due_after(day, series.period, series.anchor_day, config)
    _follow_income_model(series)
    matured = series.status == EARLY and series.matched_total >= config.min_occurrences_mature
    if matured:
        series.status = MATURE
    return SeriesEvent(series, "MATURED" if matured else "OCCURRED", previous, on_schedule)


def income_model(series: Series) -> income.SourceModel | None:
    """The income model of a credit series' kept payments (None for debits or too few payments)."""
    if not series.is_credit:
        return None
    return income.learn([(o.day, o.amount_minor) for o in series.occurrences])


def _follow_income_model(series: Series) -> None:
    """An income series takes its rhythm and next date from the income model once the model is trusted: a
    four-weekly or semi-monthly salary is not a monthly or fortnightly one, and a weekend payday moves."""
    model = income_model(series)
    if model is None or not model.trusted:
        return
    series.rhythm = model.rhythm
    if model.expected is not None:
        series.next_due = model.expected


def expire(series: Series, today: date, config: RecurringConfig) -> bool:
    """Mark the series ENDED once `misses_to_end` predicted dates have passed unpaid. True if it just ended."""
    if not series.active:
        return False
    tolerance = config.date_tolerance_days[series.period]
    missed_until = series.next_due + timedelta(days=series.period_days() * (config.misses_to_end - 1) + tolerance)
    if today > missed_until:
        series.status = ENDED
        return True
    return False


def anchor_day_of(days: list[date]) -> int:
    """Median day of month, treating the month end as circular (the 30th and the 1st are 2 days apart)."""
    values = [d.day for d in days]
    if max(values) - min(values) > 15:
        values = [v + 31 if v < 16 else v for v in values]
    middle = round(median(values))
    return middle - 31 if middle > 31 else middle


def next_due_after(day: date, period: str, anchor_day: int, config: RecurringConfig) -> date:
    """The first predicted date after a payment on `day` (a payment up to the tolerance late still counts)."""
    if period != MONTHLY:
        return day + timedelta(days=_PERIOD_DAYS[period])
    tolerance = config.date_tolerance_days[MONTHLY]
    candidate = _on_day(day.year, day.month, anchor_day)
    while candidate <= day + timedelta(days=tolerance):
        candidate = _advance(candidate, MONTHLY, anchor_day)
    return candidate


def _advance(due: date, period: str, anchor_day: int) -> date:
    if period != MONTHLY:
        return due + timedelta(days=_PERIOD_DAYS[period])
    year, month = (due.year + 1, 1) if due.month == 12 else (due.year, due.month + 1)
    return _on_day(year, month, anchor_day)


def _on_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(max(day, 1), calendar.monthrange(year, month)[1]))
