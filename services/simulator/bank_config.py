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
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.overdraft_fee_minor < 0:
            raise ValueError("overdraft_fee_minor must be >= 0")
