"""The Fraud Detection Handbook's transaction generator, vectorized with numpy.

A faithful re-implementation of Chapter 3 ("SimulatedDataset") of Le Borgne et al., *Reproducible Machine
Learning for Credit Card Fraud Detection - Practical Handbook*: ``generate_customer_profiles_table``,
``generate_terminal_profiles_table``, ``get_list_terminals_within_radius``, ``generate_transactions_table``
and ``add_frauds``. The distributions and rules are the Handbook's; the random streams are not (one seeded
``numpy.random.Generator`` per stage instead of per-customer legacy seeds), so a run reproduces the book's
figures statistically, not row by row.

Amounts are kept as integer minor units (cents) in ``Transactions.amount_minor``; ``tx_amount`` gives the
Handbook's float view for model features.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

SECONDS_PER_DAY = 86_400
# Handbook: time of day ~ N(86400/2, 20000), draws outside the day discarded.
TIME_OF_DAY_MEAN_S = SECONDS_PER_DAY / 2
TIME_OF_DAY_STD_S = 20_000.0
# Fraud scenarios (add_frauds).
SCENARIO_1_THRESHOLD_MINOR = 220_00  # any amount > 220.00 is fraud
SCENARIO_2_TERMINALS_PER_DAY = 2
SCENARIO_2_WINDOW_DAYS = 28
SCENARIO_3_CUSTOMERS_PER_DAY = 3
SCENARIO_3_WINDOW_DAYS = 14
SCENARIO_3_AMOUNT_FACTOR = 5

# Varied genuine spending (HandbookConfig.spending = "varied"): what a real bank's card feed looks like beside the
# book's steady normal amounts. Each customer's amounts are log-normal around their usual amount with their own
# spread; some of their payments go to online shops (shared by all customers, popular ones more often, with no
# location); now and then a big purchase (a multiple of the usual amount) at a shop they never used.
VARIED_LOG_SPREAD = (0.3, 1.1)  # per customer: sigma of log amounts, U(lo, hi)
VARIED_ONLINE_SHARE = (0.0, 0.6)  # per customer: share of payments online, U(lo, hi)
VARIED_ONLINE_TERMINAL_SHARE = 0.05  # of the terminals, the online shops
VARIED_BIG_PURCHASES_PER_MONTH = (0.2, 1.5)  # per customer, U(lo, hi)
VARIED_BIG_PURCHASE_FACTOR = (4.0, 30.0)  # x the customer's usual amount, log-uniform
VARIED_MAX_AMOUNT_MINOR = 10_000_00

BOOK_CUSTOMERS = 5_000
BOOK_TERMINALS = 10_000

SPENDING_MODES = ("handbook", "varied")

SCENARIO_GENUINE = 0
SCENARIO_LARGE_AMOUNT = 1
SCENARIO_COMPROMISED_TERMINAL = 2
SCENARIO_COMPROMISED_CUSTOMER = 3


@dataclass(frozen=True)
class HandbookConfig:
    """Generator parameters; the defaults are the Handbook's book dataset."""

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    start_date: dt.date = dt.date(2018, 4, 1)
    radius: float = 5.0
    seed: int = 0
    # False (the book): 2 terminals and 3 customers compromised a day whatever the scale, so a small run has a
    # far higher fraud share. True: those counts scale with n_terminals / 10,000 and n_customers / 5,000, which
    # keeps the book's fraud share (about 0.84%) at any scale.
    scale_frauds: bool = False
    # "handbook": the book's genuine spending (normal amounts, local terminals) and its four fraud scenarios.
    # "varied": genuine spending with a real bank's variety (see VARIED_*); the amount > 220 rule (scenario 1)
    # does not apply, since large genuine payments are the point; scenarios 2 and 3 are unchanged.
    spending: str = "handbook"
    # False: the bank layer's card payments carry no coordinates (as many card feeds); the Handbook CSV never has
    feed_locations: bool = True

    @property
    def compromised_terminals_per_day(self) -> float:
        scale = self.n_terminals / BOOK_TERMINALS if self.scale_frauds else 1.0
        return SCENARIO_2_TERMINALS_PER_DAY * scale

    @property
    def compromised_customers_per_day(self) -> float:
        scale = self.n_customers / BOOK_CUSTOMERS if self.scale_frauds else 1.0
        return SCENARIO_3_CUSTOMERS_PER_DAY * scale

    def __post_init__(self) -> None:
        if self.n_customers < SCENARIO_3_CUSTOMERS_PER_DAY:
            raise ValueError(f"n_customers must be >= {SCENARIO_3_CUSTOMERS_PER_DAY}")
        if self.n_terminals < SCENARIO_2_TERMINALS_PER_DAY:
            raise ValueError(f"n_terminals must be >= {SCENARIO_2_TERMINALS_PER_DAY}")
        if self.n_days < 1:
            raise ValueError("n_days must be >= 1")
        if self.radius <= 0:
            raise ValueError("radius must be > 0")
        if self.spending not in SPENDING_MODES:
            raise ValueError(f"spending must be one of {SPENDING_MODES}")


@dataclass(frozen=True, eq=False)
class CustomerProfiles:
    """Customer table: index = CUSTOMER_ID. Available terminals in CSR form (``terminal_offsets``)."""

    x_km: np.ndarray  # float64, U(0, 100)
    y_km: np.ndarray
    mean_amount: np.ndarray  # float64, U(5, 100) major units
    std_amount: np.ndarray  # mean_amount / 2
    mean_nb_tx_per_day: np.ndarray  # float64, U(0, 4)
    terminal_offsets: np.ndarray  # int64, len n_customers + 1
    terminal_ids: np.ndarray  # int64, terminals strictly within the radius, ascending per customer

    def __len__(self) -> int:
        return len(self.x_km)

    @property
    def nb_terminals(self) -> np.ndarray:
        return np.diff(self.terminal_offsets)

    def available_terminals(self, customer_id: int) -> np.ndarray:
        lo, hi = self.terminal_offsets[customer_id], self.terminal_offsets[customer_id + 1]
        return self.terminal_ids[lo:hi]


@dataclass(frozen=True, eq=False)
class TerminalProfiles:
    """Terminal table: index = TERMINAL_ID."""

    x_km: np.ndarray
    y_km: np.ndarray

    def __len__(self) -> int:
        return len(self.x_km)


@dataclass(frozen=True, eq=False)
class Transactions:
    """Handbook transactions, sorted by time; ``TRANSACTION_ID`` is the position (``transaction_id``)."""

    start_date: dt.date
    tx_time_seconds: np.ndarray  # int64, seconds since start_date 00:00:00 UTC
    customer_id: np.ndarray  # int64
    terminal_id: np.ndarray  # int64
    amount_minor: np.ndarray  # int64, cents
    tx_fraud: np.ndarray  # int8, 0/1
    tx_fraud_scenario: np.ndarray  # int8, 0..3
    transaction_id: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.tx_time_seconds)
        for name in ("customer_id", "terminal_id", "amount_minor", "tx_fraud", "tx_fraud_scenario"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n}")
        object.__setattr__(self, "transaction_id", np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.tx_time_seconds)

    @property
    def tx_time_days(self) -> np.ndarray:
        return self.tx_time_seconds // SECONDS_PER_DAY

    @property
    def tx_amount(self) -> np.ndarray:
        """The Handbook's float amount (major units), for model features only."""
        return self.amount_minor / 100.0

    @property
    def tx_datetime(self) -> np.ndarray:
        """UTC timestamps as ``datetime64[s]``."""
        origin = np.datetime64(self.start_date.isoformat(), "s")
        return origin + self.tx_time_seconds.astype("timedelta64[s]")

    def take(self, index: np.ndarray) -> Transactions:
        """A subset in the given order (transaction ids are renumbered by position)."""
        return Transactions(
            start_date=self.start_date,
            tx_time_seconds=self.tx_time_seconds[index],
            customer_id=self.customer_id[index],
            terminal_id=self.terminal_id[index],
            amount_minor=self.amount_minor[index],
            tx_fraud=self.tx_fraud[index],
            tx_fraud_scenario=self.tx_fraud_scenario[index],
        )


@dataclass(frozen=True, eq=False)
class HandbookDataset:
    config: HandbookConfig
    customers: CustomerProfiles
    terminals: TerminalProfiles
    transactions: Transactions
    # Ground truth of the fraud scenarios: rows of (terminal id, first day) and (customer id, first day).
    compromised_terminals: np.ndarray
    compromised_customers: np.ndarray


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per stage, so changing one stage never shifts another's draws."""
    names = ("customers", "terminals", "transactions", "scenario2", "scenario3", "variety")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def generate_customer_profiles(n_customers: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """x, y ~ U(0, 100); mean_amount ~ U(5, 100); std = mean / 2; mean_nb_tx_per_day ~ U(0, 4)."""
    x = rng.uniform(0, 100, n_customers)
    y = rng.uniform(0, 100, n_customers)
    mean_amount = rng.uniform(5, 100, n_customers)
    mean_nb_tx_per_day = rng.uniform(0, 4, n_customers)
    return x, y, mean_amount, mean_amount / 2, mean_nb_tx_per_day


def generate_terminal_profiles(n_terminals: int, rng: np.random.Generator) -> TerminalProfiles:
    return TerminalProfiles(x_km=rng.uniform(0, 100, n_terminals), y_km=rng.uniform(0, 100, n_terminals))


def terminals_within_radius(
    customer_xy: np.ndarray, terminal_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, terminal ids) of the terminals at Euclidean distance strictly below ``radius``."""
    tree = cKDTree(terminal_xy)
    candidates = tree.query_ball_point(customer_xy, r=radius, return_sorted=True)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    ids = np.fromiter((t for c in candidates for t in c), dtype=np.int64, count=int(counts.sum()))
    owner = np.repeat(np.arange(len(candidates)), counts)
    # The kd-tree includes the boundary (<= r); the Handbook keeps dist < r.
    dist = np.hypot(*(customer_xy[owner] - terminal_xy[ids]).T)
    keep = dist < radius
    counts = np.bincount(owner[keep], minlength=len(candidates)).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    return offsets, ids[keep]


def _generate_raw_transactions(
    customers: CustomerProfiles, n_days: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(seconds, customer, terminal, amount_minor), unsorted, before frauds."""
    n_customers = len(customers)
    # Per customer-day count ~ Poisson(mean_nb_tx_per_day).
    counts = rng.poisson(np.repeat(customers.mean_nb_tx_per_day, n_days)).astype(np.int64)
    draw_customer = np.repeat(np.repeat(np.arange(n_customers), n_days), counts)
    draw_day = np.repeat(np.tile(np.arange(n_days), n_customers), counts)
    # Time of day: int(N(43200, 20000)), kept only when 0 < t < 86400 (the Handbook's strict test).
    time_of_day = rng.normal(TIME_OF_DAY_MEAN_S, TIME_OF_DAY_STD_S, len(draw_customer)).astype(np.int64)
    # Customers with no terminal in range produce nothing.
    keep = (time_of_day > 0) & (time_of_day < SECONDS_PER_DAY) & (customers.nb_terminals[draw_customer] > 0)
    customer = draw_customer[keep]
    seconds = draw_day[keep] * SECONDS_PER_DAY + time_of_day[keep]
    # Amount ~ N(mean, std); a negative draw is replaced by U(0, 2 * mean); rounded to cents.
    mean = customers.mean_amount[customer]
    amount = rng.normal(mean, customers.std_amount[customer])
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    amount_minor = np.rint(amount * 100).astype(np.int64)
    # Terminal uniformly among the customer's available terminals.
    pick = rng.integers(0, customers.nb_terminals[customer])
    terminal = customers.terminal_ids[customers.terminal_offsets[customer] + pick]
    return seconds, customer, terminal, amount_minor


def _vary_spending(
    customers: CustomerProfiles,
    config: HandbookConfig,
    seconds: np.ndarray,
    customer: np.ndarray,
    terminal: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Varied genuine spending over the book's times and customers: log-normal amounts with each customer's
    own spread, a share of payments at online shops, and occasional big purchases (rows added)."""
    n_customers = len(customers)
    usual = customers.mean_amount  # the median of the customer's amounts
    sigma = rng.uniform(*VARIED_LOG_SPREAD, n_customers)
    online_share = rng.uniform(*VARIED_ONLINE_SHARE, n_customers)
    n_online = max(1, int(config.n_terminals * VARIED_ONLINE_TERMINAL_SHARE))
    online_terminals = rng.choice(config.n_terminals, n_online, replace=False)
    popularity = 1.0 / (np.arange(n_online) + 20.0)  # a few big shops, a long tail of small ones
    popularity /= popularity.sum()

    amount = usual[customer] * np.exp(sigma[customer] * rng.standard_normal(len(customer)))
    online = rng.random(len(customer)) < online_share[customer]
    terminal = terminal.copy()
    terminal[online] = online_terminals[rng.choice(n_online, int(online.sum()), p=popularity)]

    # Big purchases: Poisson per customer over the period, on uniform days, at a shop anywhere (or online).
    rate = rng.uniform(*VARIED_BIG_PURCHASES_PER_MONTH, n_customers) * config.n_days / 30.0
    has_terminals = customers.nb_terminals > 0
    counts = rng.poisson(rate) * has_terminals
    big_customer = np.repeat(np.arange(n_customers), counts)
    n_big = len(big_customer)
    time_of_day = np.clip(rng.normal(TIME_OF_DAY_MEAN_S, TIME_OF_DAY_STD_S, n_big), 1, SECONDS_PER_DAY - 1)
    big_seconds = rng.integers(0, config.n_days, n_big) * SECONDS_PER_DAY + time_of_day.astype(np.int64)
    factor = np.exp(rng.uniform(*np.log(VARIED_BIG_PURCHASE_FACTOR), n_big))
    big_amount = usual[big_customer] * factor
    big_online = rng.random(n_big) < 0.5
    big_terminal = rng.integers(0, config.n_terminals, n_big)
    big_terminal[big_online] = online_terminals[rng.choice(n_online, int(big_online.sum()), p=popularity)]

    amounts = np.concatenate((amount, big_amount))
    amount_minor = np.clip(np.rint(amounts * 100), 1, VARIED_MAX_AMOUNT_MINOR).astype(np.int64)
    return (np.concatenate((seconds, big_seconds)), np.concatenate((customer, big_customer)),
            np.concatenate((terminal, big_terminal)), amount_minor)


def _daily_count(expected: float, rng: np.random.Generator) -> int:
    """``expected`` itself when whole (the book: no draw); else its floor plus a Bernoulli of the rest."""
    whole = int(expected)
    rest = expected - whole
    return whole + int(rng.random() < rest) if rest > 0 else whole


def _add_frauds(
    tx: Transactions,
    config: HandbookConfig,
    rng2: np.random.Generator,
    rng3: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The Handbook's ``add_frauds``, in place: scenario 1, then 2 (overrides), then 3 (overrides).

    Returns the compromised (terminal, first day) and (customer, first day) pairs, shape (k, 2).
    """
    fraud, scenario, amount = tx.tx_fraud, tx.tx_fraud_scenario, tx.amount_minor
    days = tx.tx_time_days
    # The Handbook loops `for day in range(TX_TIME_DAYS.max())`.
    n_compromise_days = int(days.max()) if len(tx) else 0
    horizon = n_compromise_days + max(SCENARIO_2_WINDOW_DAYS, SCENARIO_3_WINDOW_DAYS) + 1

    # Scenario 1: amount > 220 (the book's rule; not for varied spending, where large payments are genuine).
    if config.spending == "handbook":
        large = amount > SCENARIO_1_THRESHOLD_MINOR
        fraud[large], scenario[large] = 1, SCENARIO_LARGE_AMOUNT

    # Scenario 2: each day 2 terminals; all their transactions in [day, day + 28) are fraud.
    compromised = np.zeros((config.n_terminals, horizon), dtype=bool)
    terminal_events = []
    for day in range(n_compromise_days):
        k = _daily_count(config.compromised_terminals_per_day, rng2)
        for terminal in rng2.choice(config.n_terminals, k, replace=False):
            compromised[terminal, day : day + SCENARIO_2_WINDOW_DAYS] = True
            terminal_events.append((int(terminal), day))
    hit = compromised[tx.terminal_id, days]
    fraud[hit], scenario[hit] = 1, SCENARIO_COMPROMISED_TERMINAL

    # Scenario 3: each day 3 customers; over [day, day + 14) a random third of their transactions
    # get amount x5 and are fraud (repeated selections compound, as in the Handbook).
    by_customer = np.lexsort((tx.tx_time_seconds, tx.customer_id))
    sorted_customer = tx.customer_id[by_customer]
    sorted_days = days[by_customer]
    customer_events = []
    for day in range(n_compromise_days):
        k = _daily_count(config.compromised_customers_per_day, rng3)
        chosen = rng3.choice(config.n_customers, k, replace=False)
        windows = []
        for customer in chosen:
            customer_events.append((int(customer), day))
            lo, hi = np.searchsorted(sorted_customer, [customer, customer + 1])
            d_lo, d_hi = np.searchsorted(sorted_days[lo:hi], [day, day + SCENARIO_3_WINDOW_DAYS])
            windows.append(by_customer[lo + d_lo : lo + d_hi])
        if not windows:
            continue
        window = np.sort(np.concatenate(windows))
        victims = rng3.choice(window, len(window) // 3, replace=False)
        amount[victims] *= SCENARIO_3_AMOUNT_FACTOR
        fraud[victims], scenario[victims] = 1, SCENARIO_COMPROMISED_CUSTOMER
    return (
        np.asarray(terminal_events, dtype=np.int64).reshape(-1, 2),
        np.asarray(customer_events, dtype=np.int64).reshape(-1, 2),
    )


def generate(config: HandbookConfig | None = None) -> HandbookDataset:
    """Customers, terminals and labelled transactions (sorted by time) for ``config``."""
    config = config or HandbookConfig()
    rngs = _streams(config.seed)
    x, y, mean_amount, std_amount, mean_nb = generate_customer_profiles(config.n_customers, rngs["customers"])
    terminals = generate_terminal_profiles(config.n_terminals, rngs["terminals"])
    offsets, ids = terminals_within_radius(
        np.column_stack((x, y)), np.column_stack((terminals.x_km, terminals.y_km)), config.radius
    )
    customers = CustomerProfiles(x, y, mean_amount, std_amount, mean_nb, offsets, ids)

    seconds, customer, terminal, amount_minor = _generate_raw_transactions(
        customers, config.n_days, rngs["transactions"]
    )
    if config.spending == "varied":
        seconds, customer, terminal, amount_minor = _vary_spending(
            customers, config, seconds, customer, terminal, rngs["variety"])
    order = np.lexsort((terminal, customer, seconds))  # by time; ties broken deterministically
    n = len(order)
    tx = Transactions(
        start_date=config.start_date,
        tx_time_seconds=seconds[order],
        customer_id=customer[order],
        terminal_id=terminal[order],
        amount_minor=amount_minor[order],
        tx_fraud=np.zeros(n, dtype=np.int8),
        tx_fraud_scenario=np.zeros(n, dtype=np.int8),
    )
    terminal_events, customer_events = _add_frauds(tx, config, rngs["scenario2"], rngs["scenario3"])
    return HandbookDataset(
        config=config,
        customers=customers,
        terminals=terminals,
        transactions=tx,
        compromised_terminals=terminal_events,
        compromised_customers=customer_events,
    )


def summary(tx: Transactions, n_customers: int, n_days: int) -> dict[str, object]:
    """Headline figures of a transaction set (JSON-serializable)."""
    n = len(tx)
    n_fraud = int(tx.tx_fraud.sum())
    scenarios = np.bincount(tx.tx_fraud_scenario.astype(np.int64), minlength=4)
    return {
        "n_transactions": n,
        "n_fraud": n_fraud,
        "fraud_share": round(n_fraud / n, 6) if n else 0.0,
        "scenario_counts": {str(s): int(scenarios[s]) for s in (1, 2, 3)},
        "tx_per_customer_day": round(n / (n_customers * n_days), 4) if n_customers and n_days else 0.0,
        "n_active_customers": len(np.unique(tx.customer_id)),
        "n_active_terminals": len(np.unique(tx.terminal_id)),
    }
