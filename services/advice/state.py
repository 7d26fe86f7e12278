"""A customer's financial picture built from the stream: incremental (one transaction at a time), bounded in
size, and serializable to JSON so it can be stored per customer.

It holds the current balance, recurring series (salary, bills, subscriptions), usual discretionary spending
per day, spending per category per month, daily lowest balances, recent card charges (for duplicates),
bounced payments, and when each nudge last fired (re-fire windows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from services.advice import income, recurring
from services.advice.categories import category_of
from services.advice.facts import ProfileFacts, TxFacts
from services.advice.policy import Policy
from services.advice.recurring import Occurrence, Series, SeriesEvent

STATE_SCHEMA = 1
_NOT_SPENDING_CHANNELS = frozenset({"FEE", "TRANSFER_OUT"})


@dataclass(frozen=True)
class RecentCharge:
    tx_id: str
    at: datetime
    payee_key: str
    card_token: str
    amount_minor: int

    def to_list(self) -> list[object]:
        return [self.tx_id, self.at.isoformat(), self.payee_key, self.card_token, self.amount_minor]

    @classmethod
    def from_list(cls, raw: list[object]) -> RecentCharge:
        return cls(str(raw[0]), datetime.fromisoformat(str(raw[1])), str(raw[2]), str(raw[3]),
                   int(raw[4]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Observation:
    """What a transaction changed; the rules read it together with the state."""

    tx: TxFacts
    today: date
    series_event: SeriesEvent | None
    ended_series: tuple[Series, ...]
    earlier_charges: tuple[RecentCharge, ...]  # recent debits before this one, oldest first
    discretionary: bool
    category: str
    other_account: bool = False  # a savings (or other) account's row: no current-account rule applies


@dataclass
class CustomerState:
    customer_id: str
    currency: str = ""
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    balance_minor: int | None = None
    series: dict[str, Series] = field(default_factory=dict)
    unmatched: dict[str, list[Occurrence]] = field(default_factory=dict)
    # unmatched payees paid by direct debit or mortgage payment -> the payee's name
    mandates: dict[str, str] = field(default_factory=dict)
    # unmatched payees that paid in by payroll (the SALARY channel): a first pay
    payrolls: set[str] = field(default_factory=set)
    daily_spend: dict[str, int] = field(default_factory=dict)  # ISO day -> discretionary debits
    # ISO day -> credits that are no regular series' (gig payouts, refunds; a payer's first payment until its
    # second makes it a series)
    daily_income: dict[str, int] = field(default_factory=dict)
    category_months: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> "YYYY-MM" -> minor
    daily_low: dict[str, int] = field(default_factory=dict)  # ISO day -> lowest balance seen that day
    recent_charges: list[RecentCharge] = field(default_factory=list)
    returned_payments: list[str] = field(default_factory=list)  # ISO days
    fired: dict[str, str] = field(default_factory=dict)  # "TYPE|subject" -> ISO instant last fired
    shortfall_days: list[str] = field(default_factory=list)  # ISO days a shortfall nudge fired
    profile: ProfileFacts | None = None
    current_account_id: str = ""
    savings_balance_minor: int | None = None  # from the savings account's own transactions, when seen
    # Transactions that arrived before the profile, in arrival order, not yet folded (see `hold`).
    held: list[TxFacts] = field(default_factory=list)
    profile_wait_over: bool = False  # the wait for the profile ended without it: transactions are folded

    # ---- derived figures -------------------------------------------------------------------------------

    def history_days(self, today: date) -> int:
        return 0 if self.first_seen is None else (today - self.first_seen.date()).days

    def mandates_seen_once(self) -> list[tuple[str, Occurrence]]:
        """The latest payment of each direct debit or mortgage payment not (yet) part of a series: a mandate
        seen once is most likely paid again a month later."""
        return [(name, self.unmatched[k][-1]) for k, name in self.mandates.items()
                if self.unmatched.get(k) and k not in self.series]

    def pay_seen_once(self) -> Occurrence | None:
        """The largest payroll payment of a payer seen exactly once (not yet a series): a new customer's (or a new
        job's) first pay, before a second one shows its rhythm."""
        once = [occ[0] for k in self.payrolls if len(occ := self.unmatched.get(k, ())) == 1 and k not in self.series]
        return max(once, key=lambda o: (o.amount_minor, o.day), default=None)

    def active_series(self, *kinds: str) -> list[Series]:
        return [s for s in self.series.values() if s.active and (not kinds or s.kind in kinds)]

    def primary_income(self) -> Series | None:
        """The largest active salary series (or other regular income when no salary is seen)."""
        for kinds in ((recurring.SALARY,), (recurring.INCOME,)):
            candidates = [s for s in self.active_series(*kinds) if s.rhythm != income.IRREGULAR]
            if candidates:
                return max(candidates, key=lambda s: s.typical_amount_minor)
        return None

    def income_is_irregular(self) -> bool:
        """Income known, all of it irregular (gig or platform payouts): no payday to forecast to."""
        return self.primary_income() is None and any(
            s.is_credit and s.rhythm == income.IRREGULAR for s in self.active_series())

    def monthly_income_minor(self) -> int:
        """Usual net income a month: regular income series, else the profile's figure."""
        total = sum(_monthly(s) for s in self.active_series(recurring.SALARY, recurring.INCOME))
        if total == 0 and self.profile is not None:
            return self.profile.monthly_income_minor
        return total

    def daily_spend_minor(self, today: date, window_days: int) -> int:
        """Average discretionary spending a day over the window (days before today)."""
        days = min(window_days, self.history_days(today))
        if days <= 0:
            return 0
        start, end = (today - timedelta(days=days)).isoformat(), today.isoformat()  # ISO days sort as dates
        total = sum(v for k, v in self.daily_spend.items() if start <= k < end)
        return total // days

    def daily_spend_history(self, today: date, window_days: int) -> list[int]:
        """Discretionary spending of each day of the window before today, oldest first (0 on a day without)."""
        return self._per_day(self.daily_spend, today, window_days)

    def daily_outflow_history(self, today: date, window_days: int,
                              scheduled: Occurrence | None = None) -> list[int]:
        """What left the account each day of the window apart from the scheduled payments: discretionary
        spending less the credits no regular series accounts for (negative on a day a gig payout came in).
        `scheduled`: a credit the forecast already schedules again (a pay seen once), so it is not counted twice."""
        spend = self._per_day(self.daily_spend, today, window_days)
        income = self._per_day(self.daily_income, today, window_days)
        if scheduled is not None and spend:
            i = (scheduled.day - (today - timedelta(days=len(spend)))).days
            if 0 <= i < len(income):
                income[i] = max(0, income[i] - scheduled.amount_minor)
        return [s - i for s, i in zip(spend, income, strict=True)]

    def _per_day(self, amounts: dict[str, int], today: date, window_days: int) -> list[int]:
        days = min(window_days, self.history_days(today))
        if days <= 0:
            return []
        start = today - timedelta(days=days)
        values = [0] * days
        for k, v in amounts.items():
            day = date.fromisoformat(k)
            if start <= day < today:
                values[(day - start).days] = v
        return values

    def daily_spend_sd_minor(self, today: date, window_days: int) -> float:
        """The standard deviation of discretionary spending a day over the window (days without any count)."""
        values = self.daily_spend_history(today, window_days)
        days = len(values)
        if days < 2:
            return 0.0
        mean = sum(values) / days
        return (sum((v - mean) ** 2 for v in values) / (days - 1)) ** 0.5

    def monthly_outgoings_minor(self, today: date, window_days: int) -> int:
        recurring_out = sum(_monthly(s) for s in self.active_series() if not s.is_credit)
        return recurring_out + self.daily_spend_minor(today, window_days) * 30

    def savings_minor(self) -> int:
        if self.savings_balance_minor is not None:
            return self.savings_balance_minor
        return self.profile.savings_balance_minor if self.profile else 0

    def is_current_account(self, tx: TxFacts) -> bool:
        """Balance, series and spending are about the current account; other accounts only update savings."""
        if not tx.account_id or not self.current_account_id:
            return True
        return tx.account_id == self.current_account_id

    # ---- the wait for the profile -----------------------------------------------------------------------

    def hold(self, tx: TxFacts, policy: Policy) -> list[TxFacts]:
        """Hold a transaction that arrived before the customer's profile; what is returned is to be folded now.

        Which account is the current one, where savings are, the overdraft and the segment all come from the
        profile, and the profile arrives on another topic in no fixed order relative to the transactions. So a
        customer's transactions are kept, unfolded, until the profile arrives (`release`) and then folded in
        their order, exactly as if the profile had come first. The wait is bounded: once the held transactions
        span `profile_wait_days` of event time or number `profile_wait_max_transactions`, they are released
        and folded without a profile (the decision depends only on the customer's own transactions, so it is
        the same on every replay), and later transactions are no longer held."""
        if self.profile is not None or self.profile_wait_over:
            return [*self.release(), tx]
        self.held.append(tx)
        config = policy.forecast
        span = tx.timestamp - self.held[0].timestamp
        if span.days >= config.profile_wait_days or len(self.held) >= config.profile_wait_max_transactions:
            self.profile_wait_over = True
            self._infer_current_account(self.held)
            return self.release()
        return []

    def release(self) -> list[TxFacts]:
        held, self.held = self.held, []
        return held

    def _infer_current_account(self, txs: list[TxFacts]) -> None:
        """Without a profile: the account salaries are paid into, else the account with the most transactions
        (ties: the smallest id), never the order they arrived in."""
        if self.current_account_id:
            return
        counts: dict[str, tuple[int, int]] = {}
        for t in txs:
            if t.account_id:
                salary, n = counts.get(t.account_id, (0, 0))
                counts[t.account_id] = (salary + (t.channel == "SALARY"), n + 1)
        if counts:
            self.current_account_id = min(counts, key=lambda a: (-counts[a][0], -counts[a][1], a))

    # ---- updates ---------------------------------------------------------------------------------------

    def apply_profile(self, profile: ProfileFacts) -> None:
        self.profile = profile
        if not self.currency and profile.currency:
            self.currency = profile.currency
        if profile.current_account_id:
            self.current_account_id = profile.current_account_id

    def observe(self, tx: TxFacts, policy: Policy) -> Observation:
        """Fold one transaction into the state. Transactions must arrive in time order per customer."""
        today = tx.timestamp.date()
        if not self.current_account_id and tx.account_id and tx.channel not in ("INTEREST", "TRANSFER_IN"):
            self.current_account_id = tx.account_id
        if not self.is_current_account(tx):
            if self.profile and tx.account_id == self.profile.savings_account_id and tx.balance_after_minor is not None:
                self.savings_balance_minor = tx.balance_after_minor
            return Observation(tx, today, None, (), (), False, category_of(tx.mcc), other_account=True)
        self.currency = self.currency or tx.currency
        self.first_seen = self.first_seen or tx.timestamp
        self.last_seen = max(self.last_seen or tx.timestamp, tx.timestamp)
        ended = tuple(s for s in self.series.values() if recurring.expire(s, today, policy.recurring))
        self._update_balance(tx, today, policy)
        if tx.returned:
            self.returned_payments.append(today.isoformat())
            self._prune(today, policy)
            return Observation(tx, today, None, ended, (), False, category_of(tx.mcc))
        earlier = self._note_charge(tx, policy)
        event = self._match_series(tx, policy)
        category = category_of(tx.mcc)
        discretionary = (not tx.is_credit and event is None and tx.channel not in _NOT_SPENDING_CHANNELS)
        if discretionary:
            self._add_spend(today, category, tx.amount_minor)
        elif tx.is_credit and (event is None or event.series.rhythm == income.IRREGULAR):
            # income no regular series accounts for (a gig payout, a refund): counted by its own history
            key = today.isoformat()
            self.daily_income[key] = self.daily_income.get(key, 0) + tx.amount_minor
        self._prune(today, policy)
        return Observation(tx, today, event, ended, earlier, discretionary, category)

    def mark_fired(self, nudge_type: str, subject: str, at: datetime) -> None:
        self.fired[f"{nudge_type}|{subject}"] = at.astimezone(UTC).isoformat()
        if nudge_type == "PROJECTED_SHORTFALL":
            self.shortfall_days.append(at.date().isoformat())

    def last_fired(self, nudge_type: str, subject: str) -> datetime | None:
        raw = self.fired.get(f"{nudge_type}|{subject}")
        return datetime.fromisoformat(raw) if raw else None

    def _update_balance(self, tx: TxFacts, today: date, policy: Policy) -> None:
        if tx.balance_after_minor is not None:
            self.balance_minor = tx.balance_after_minor
        elif not tx.returned and self.balance_minor is not None:
            self.balance_minor += tx.signed_minor
        if self.balance_minor is not None:
            key = today.isoformat()
            self.daily_low[key] = min(self.daily_low.get(key, self.balance_minor), self.balance_minor)

    def _note_charge(self, tx: TxFacts, policy: Policy) -> tuple[RecentCharge, ...]:
        window = timedelta(minutes=policy.spending.recent_charges_window_minutes)
        self.recent_charges = [c for c in self.recent_charges if tx.timestamp - c.at <= window]
        earlier = tuple(self.recent_charges)
        if not tx.is_credit and tx.channel not in _NOT_SPENDING_CHANNELS:
            key = tx.payee_key or tx.payee_name
            self.recent_charges.append(RecentCharge(tx.id, tx.timestamp, key, tx.card_token, tx.amount_minor))
        return earlier

    def _match_series(self, tx: TxFacts, policy: Policy) -> SeriesEvent | None:
        config = policy.recurring
        key = recurring.series_key(tx)
        if not key or tx.mcc in config.excluded_mccs:
            return None
        existing = self.series.get(key)
        if existing is not None and existing.active:
            if recurring.matches_series(existing, tx, config):
                return recurring.record_occurrence(existing, tx, config)
            return None
        day = tx.timestamp.date()
        tolerance = recurring.amount_tolerance(tx, config)
        pending = self.unmatched.setdefault(key, [])
        for earlier in reversed(pending):
            period = recurring.fit_period((day - earlier.day).days, config)
            if period and recurring.amounts_agree(earlier.amount_minor, tx.amount_minor, tolerance):
                pending.remove(earlier)
                if len(self.series) >= config.max_series and key not in self.series:
                    return None
                series = recurring.start_series(key, earlier, tx, period, config)
                self.series[key] = series
                if not tx.is_credit:
                    self._remove_spend(earlier.day, category_of(tx.mcc), earlier.amount_minor)
                elif (key_day := earlier.day.isoformat()) in self.daily_income:
                    self.daily_income[key_day] = max(0, self.daily_income[key_day] - earlier.amount_minor)
                return SeriesEvent(series, "DETECTED", earlier.amount_minor, True)
        pending.append(Occurrence(day, tx.amount_minor, tx.id))
        if tx.channel in ("DIRECT_DEBIT", "MORTGAGE_PAYMENT") and not tx.is_credit:
            self.mandates[key] = tx.payee_name or tx.description or key
        elif tx.channel == "SALARY" and tx.is_credit:
            self.payrolls.add(key)
        del pending[: -config.max_unmatched_per_payee]
        return None

    def _add_spend(self, day: date, category: str, amount: int) -> None:
        key = day.isoformat()
        self.daily_spend[key] = self.daily_spend.get(key, 0) + amount
        months = self.category_months.setdefault(category, {})
        month = day.strftime("%Y-%m")
        months[month] = months.get(month, 0) + amount

    def _remove_spend(self, day: date, category: str, amount: int) -> None:
        key = day.isoformat()
        if key in self.daily_spend:
            self.daily_spend[key] = max(0, self.daily_spend[key] - amount)
        months = self.category_months.get(category, {})
        month = day.strftime("%Y-%m")
        if month in months:
            months[month] = max(0, months[month] - amount)

    def _prune(self, today: date, policy: Policy) -> None:
        spend_from = (today - timedelta(days=policy.spending.discretionary_window_days + 1)).isoformat()
        self.daily_spend = {k: v for k, v in self.daily_spend.items() if k >= spend_from}
        self.daily_income = {k: v for k, v in self.daily_income.items() if k >= spend_from}
        low_from = (today - timedelta(days=policy.spending.daily_balance_window_days)).isoformat()
        self.daily_low = {k: v for k, v in self.daily_low.items() if k >= low_from}
        first_month = _months_back(today, policy.spending.category_history_months)
        self.category_months = {
            c: kept for c, months in self.category_months.items()
            if (kept := {m: v for m, v in months.items() if m >= first_month})
        }
        expiry = today - timedelta(days=policy.recurring.unmatched_expiry_days)
        self.unmatched = {
            k: kept for k, occ in self.unmatched.items() if (kept := [o for o in occ if o.day >= expiry])
        }
        self.mandates = {k: v for k, v in self.mandates.items() if k in self.unmatched and k not in self.series}
        self.payrolls = {k for k in self.payrolls if k in self.unmatched and k not in self.series}
        self.series = {
            k: s for k, s in self.series.items()
            if s.active or (today - s.next_due).days <= policy.recurring.unmatched_expiry_days
        }
        longest = max((r.refire_days for r in policy.rules.values()), default=0)
        fired_from = (datetime.combine(today, datetime.min.time(), UTC) - timedelta(days=longest)).isoformat()
        self.fired = {k: v for k, v in self.fired.items() if v >= fired_from}
        routing_days = max((int(r.params.get("window_days", 0)) for r in policy.routing.values()), default=90)
        keep_from = (today - timedelta(days=routing_days)).isoformat()
        self.shortfall_days = [d for d in self.shortfall_days if d >= keep_from]
        self.returned_payments = [d for d in self.returned_payments if d >= keep_from]

    # ---- serialization ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": STATE_SCHEMA,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "balance_minor": self.balance_minor,
            "series": [s.to_dict() for s in self.series.values()],
            "unmatched": {k: [o.to_list() for o in v] for k, v in self.unmatched.items()},
            "mandates": self.mandates,
            "payrolls": sorted(self.payrolls),
            "daily_spend": self.daily_spend,
            "daily_income": self.daily_income,
            "category_months": self.category_months,
            "daily_low": self.daily_low,
            "recent_charges": [c.to_list() for c in self.recent_charges],
            "returned_payments": self.returned_payments,
            "fired": self.fired,
            "shortfall_days": self.shortfall_days,
            "profile": self.profile.to_dict() if self.profile else None,
            "current_account_id": self.current_account_id,
            "savings_balance_minor": self.savings_balance_minor,
            "held": [t.to_dict() for t in self.held],
            "profile_wait_over": self.profile_wait_over,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> CustomerState:
        if raw.get("schema") != STATE_SCHEMA:
            raise ValueError(f"unsupported customer state schema {raw.get('schema')!r}")

        def instant(value: object) -> datetime | None:
            return datetime.fromisoformat(str(value)) if value else None

        series = [Series.from_dict(s) for s in raw["series"]]  # type: ignore[attr-defined]
        profile = raw.get("profile")
        return cls(
            customer_id=str(raw["customer_id"]),
            currency=str(raw["currency"]),
            first_seen=instant(raw["first_seen"]),
            last_seen=instant(raw["last_seen"]),
            balance_minor=None if raw["balance_minor"] is None else int(raw["balance_minor"]),  # type: ignore[call-overload]
            series={s.key: s for s in series},
            unmatched={k: [Occurrence.from_list(o) for o in v]
                       for k, v in raw["unmatched"].items()},  # type: ignore[attr-defined]
            mandates=dict(raw.get("mandates", {})),  # type: ignore[call-overload]
            payrolls=set(raw.get("payrolls", ())),  # type: ignore[call-overload]
            daily_spend=dict(raw["daily_spend"]),  # type: ignore[call-overload]
            daily_income=dict(raw.get("daily_income", {})),  # type: ignore[call-overload]
            category_months={k: dict(v) for k, v in raw["category_months"].items()},  # type: ignore[attr-defined]
            daily_low=dict(raw["daily_low"]),  # type: ignore[call-overload]
            recent_charges=[RecentCharge.from_list(c) for c in raw["recent_charges"]],  # type: ignore[attr-defined]
            returned_payments=list(raw["returned_payments"]),  # type: ignore[call-overload]
            fired=dict(raw["fired"]),  # type: ignore[call-overload]
            shortfall_days=list(raw["shortfall_days"]),  # type: ignore[call-overload]
            profile=ProfileFacts.from_dict(profile) if isinstance(profile, dict) else None,
            current_account_id=str(raw.get("current_account_id", "")),
            savings_balance_minor=None if raw.get("savings_balance_minor") is None
            else int(raw["savings_balance_minor"]),  # type: ignore[call-overload]
            held=[TxFacts.from_dict(t) for t in raw.get("held", [])],  # type: ignore[attr-defined]
            profile_wait_over=bool(raw.get("profile_wait_over", False)),
        )


def _monthly(series: Series) -> int:
    """A series' amount expressed per month."""
    per_year = {recurring.WEEKLY: 52, recurring.FORTNIGHTLY: 26, recurring.MONTHLY: 12}[series.period]
    return series.typical_amount_minor * per_year // 12


def _months_back(today: date, months: int) -> str:
    year, month = today.year, today.month - months
    while month <= 0:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"
