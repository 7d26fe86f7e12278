"""Parameters of the synthetic bank layered on top of the Handbook generator."""

from __future__ import annotations

from dataclasses import dataclass

from services.simulator import catalog


@dataclass(frozen=True)
class BankConfig:
    mortgage_share: float = 0.30  # customers with a repayment mortgage
    hardship_share: float = 0.03  # customers who go through a hardship episode
    hardship_mortgage_share: float = 0.6  # of the hardship episodes, the share given to mortgage holders
    stretched_share: float = 0.12  # customers whose income barely covers their spending
    savings_share: float = 0.40  # customers with a savings account
    late_salary_probability: float = 0.04  # a salary paid 1-2 days late (not hardship)
    duplicate_probability: float = 0.0005  # a genuine card payment charged twice
    baseline_gambler_share: float = 0.10  # customers who gamble a little without any hardship
    overdraft_fee_minor: int = catalog.OVERDRAFT_FEE_MINOR
    currency: str = catalog.CURRENCY
    # Pay rhythms (catalog.PAY_RHYTHMS) and their weights; the default pays everyone monthly on their payday.
    pay_mix: tuple[tuple[str, float], ...] = catalog.PAY_MIXES["default"]
    weekend_shift: bool = False  # a payday on a weekend is paid on the Friday before
    variable_bills: bool = False  # usage-priced bills vary every month around their level
    # Spending that follows pay: the share of genuine card payments moved to the `payday_spending_days` days
    # after the pay before them (0: the Handbook's spending, spread evenly over the days, as before)
    payday_spending: float = 0.0
    payday_spending_days: int = 3

    @classmethod
    def for_market(cls, market: str, **overrides: object) -> BankConfig:
        """The default bank ("default"), or a market's pay-rhythm mix with weekend shifts and variable bills."""
        if market not in catalog.PAY_MIXES:
            raise ValueError(f"market must be one of {sorted(catalog.PAY_MIXES)}, got {market!r}")
        if market == "default":
            return cls(**overrides)  # type: ignore[arg-type]
        return cls(pay_mix=catalog.PAY_MIXES[market], weekend_shift=True, variable_bills=True,
                   **overrides)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        for name in (
            "mortgage_share",
            "hardship_share",
            "hardship_mortgage_share",
            "stretched_share",
            "savings_share",
            "late_salary_probability",
            "duplicate_probability",
            "baseline_gambler_share",
            "payday_spending",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        unknown = [r for r, _ in self.pay_mix if r not in catalog.PAY_RHYTHMS]
        if unknown or not self.pay_mix or any(w < 0 for _, w in self.pay_mix) or sum(w for _, w in self.pay_mix) <= 0:
            raise ValueError(f"pay_mix must weigh rhythms of {catalog.PAY_RHYTHMS}, got {self.pay_mix}")
        if self.payday_spending_days < 1:
            raise ValueError(f"payday_spending_days must be >= 1, got {self.payday_spending_days}")
        if self.overdraft_fee_minor < 0:
            raise ValueError("overdraft_fee_minor must be >= 0")
