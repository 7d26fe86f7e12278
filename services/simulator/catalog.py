"""Static reference data of the synthetic bank: merchant categories, bills, subscriptions, time zones.

Amounts are integer minor units (pence). Price-rise dates are offsets in days from the simulation start so
that any start date works.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "GBP"
HOME_COUNTRY = "GB"


@dataclass(frozen=True)
class MerchantCategory:
    mcc: str  # ISO 18245
    label: str
    weight: float  # share of card-present (or online) merchants
    online: bool


# Merchants behind the Handbook terminals. Online categories are card-not-present.
MERCHANT_CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory("5411", "Grocery", 0.22, False),
    MerchantCategory("5812", "Restaurant", 0.10, False),
    MerchantCategory("5814", "Fast Food", 0.08, False),
    MerchantCategory("5541", "Fuel", 0.06, False),
    MerchantCategory("5912", "Pharmacy", 0.05, False),
    MerchantCategory("5311", "Department Store", 0.04, False),
    MerchantCategory("5651", "Clothing", 0.05, False),
    MerchantCategory("5732", "Electronics", 0.03, False),
    MerchantCategory("5942", "Books", 0.02, False),
    MerchantCategory("4121", "Taxi", 0.03, False),
    MerchantCategory("4111", "Transit", 0.05, False),
    MerchantCategory("7832", "Cinema", 0.02, False),
    MerchantCategory("5999", "Online Shop", 0.12, True),
    MerchantCategory("4899", "Digital Media", 0.04, True),
    MerchantCategory("5964", "Catalogue Store", 0.04, True),
    MerchantCategory("4722", "Travel Agency", 0.03, True),
    MerchantCategory("5818", "Digital Goods", 0.02, True),
)
# Countries of online merchants (card-present merchants are all domestic).
ONLINE_COUNTRIES: tuple[tuple[str, float], ...] = (
    ("GB", 0.70),
    ("IE", 0.08),
    ("NL", 0.06),
    ("DE", 0.06),
    ("FR", 0.05),
    ("US", 0.05),
)

GAMBLING_MCC = "7995"
GAMBLING_MERCHANTS: tuple[str, ...] = ("LuckySpin Casino", "BetNow Sports", "GoldenReel Bingo")
ATM_MCC = "6011"


@dataclass(frozen=True)
class BillKind:
    """A recurring direct debit. Utilities are priced per customer; subscriptions at a catalogue price."""

    key: str  # stable part of the counterparty id
    name: str  # payee name shown to the customer
    description: str
    uptake: float  # share of customers who have it
    price_minor: int | None  # catalogue price (subscriptions); None = per-customer amount
    amount_range_minor: tuple[int, int]  # per-customer amount range when price_minor is None
    # Catalogue price rise: (days after the simulation start, new price); every subscriber pays it from the
    # first collection on or after that day.
    price_rise: tuple[int, int] | None = None
    # Share of customers whose per-customer bill rises once during the simulation (utilities).
    rise_share: float = 0.0
    # Usage-priced (energy, phone): with `BankConfig.variable_bills` each collection varies around the level by
    # up to this share either way; a rise moves the level.
    variation: float = 0.0


BILLS: tuple[BillKind, ...] = (
    BillKind("council_tax", "Council Tax", "Council Tax instalment", 0.95, None, (9_000, 22_000)),
    BillKind("energy", "BrightVolt Energy", "BrightVolt Energy monthly", 0.93, None, (6_000, 18_000),
             rise_share=0.25, variation=0.20),
    BillKind("water", "ClearFlow Water", "ClearFlow Water", 0.85, None, (2_500, 5_500)),
    BillKind("mobile", "TalkMore Mobile", "TalkMore Mobile plan", 0.90, None, (1_000, 4_500),
             rise_share=0.10, variation=0.15),
    BillKind("broadband", "FibreLine Broadband", "FibreLine Broadband", 0.80, None, (2_500, 5_000),
             rise_share=0.15),
    BillKind("insurance", "SafeHome Insurance", "SafeHome Insurance premium", 0.60, None, (1_500, 6_000)),
    BillKind("streamflix", "StreamFlix", "StreamFlix monthly", 0.55, 1_099, (0, 0),
             price_rise=(75, 1_299)),
    BillKind("tunebox", "TuneBox Music", "TuneBox Music subscription", 0.40, 1_099, (0, 0),
             price_rise=(120, 1_199)),
    BillKind("fitzone", "FitZone Gym", "FitZone Gym membership", 0.25, 3_499, (0, 0)),
    BillKind("cloudsafe", "CloudSafe Storage", "CloudSafe Storage plan", 0.20, 299, (0, 0),
             price_rise=(45, 399)),
    BillKind("newsdaily", "NewsDaily", "NewsDaily digital subscription", 0.15, 799, (0, 0)),
)
# Rent for customers without a mortgage (share of the customers who rent).
RENT_SHARE = 0.55
RENT_RANGE_MINOR = (55_000, 160_000)

EMPLOYERS: tuple[str, ...] = (
    "Northwind Logistics", "Acme Engineering", "Bluebell Care", "Harbour Retail", "Civic Council",
    "Pioneer Health", "Summit Consulting", "Riverside Schools", "Kestrel Foods", "Lumen Software",
)

# IANA time zones of the customers, with weights.
TIME_ZONES: tuple[tuple[str, float], ...] = (
    ("Europe/London", 0.92),
    ("Europe/Dublin", 0.03),
    ("Europe/Paris", 0.02),
    ("Europe/Madrid", 0.02),
    ("America/New_York", 0.01),
)

# Paydays (day of month): UK employers cluster on a few days.
PAYDAYS: tuple[tuple[int, float], ...] = (
    (1, 0.10), (15, 0.15), (20, 0.10), (25, 0.25), (26, 0.05), (27, 0.05), (28, 0.20), (10, 0.10),
)

# How customers are paid. MONTHLY on the customer's payday is the default bank; the market mixes add the other
# rhythms (weights), with paydays falling on a weekend paid on the working day before.
MONTHLY = "MONTHLY"
WEEKLY = "WEEKLY"
BIWEEKLY = "BIWEEKLY"
SEMI_MONTHLY = "SEMI_MONTHLY"
FOUR_WEEKLY = "FOUR_WEEKLY"
LAST_WORKING_DAY = "LAST_WORKING_DAY"
GIG = "GIG"  # irregular platform payouts
PAY_RHYTHMS = (MONTHLY, WEEKLY, BIWEEKLY, SEMI_MONTHLY, FOUR_WEEKLY, LAST_WORKING_DAY, GIG)
PAY_MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "default": ((MONTHLY, 1.0),),
    "UK": ((MONTHLY, 0.62), (LAST_WORKING_DAY, 0.10), (FOUR_WEEKLY, 0.12), (WEEKLY, 0.08), (GIG, 0.08)),
    "US": ((WEEKLY, 0.32), (BIWEEKLY, 0.38), (SEMI_MONTHLY, 0.15), (MONTHLY, 0.05), (GIG, 0.10)),
}
GIG_PLATFORMS: tuple[str, ...] = ("RideNow", "DashDrop", "TaskHive")
GIG_PAYOUT_DAY_PROBABILITY = 0.35  # a gig worker cashes out on about a third of days

OVERDRAFT_FEE_MINOR = 500  # charged when the balance goes below zero
PAYDAY_LENDER = "QuickCash Loans"
