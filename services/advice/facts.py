"""The facts the advice domain reads from a transaction and a customer profile: plain values, no protobuf.

`messages.py` converts the wire messages into these, so every rule can be tested without Kafka or protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TxFacts:
    id: str
    customer_id: str
    timestamp: datetime  # UTC
    amount_minor: int  # >= 0; the sign is `is_credit`
    currency: str
    is_credit: bool
    channel: str  # events.proto Channel name, e.g. "DIRECT_DEBIT"
    payee_key: str  # stable payee / payer identity ("" when none is known)
    payee_name: str  # what the customer recognizes ("StreamFlix")
    mcc: str
    merchant_country: str
    card_token: str
    balance_after_minor: int | None
    returned: bool  # a bounced payment: no money moved
    description: str = ""
    produced_at_ms: int = 0
    account_id: str = ""

    @property
    def signed_minor(self) -> int:
        return self.amount_minor if self.is_credit else -self.amount_minor

    def to_dict(self) -> dict[str, object]:
        raw = dict(self.__dict__)
        raw["timestamp"] = self.timestamp.isoformat()
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> TxFacts:
        values = dict(raw)
        values["timestamp"] = datetime.fromisoformat(str(raw["timestamp"]))
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProfileFacts:
    customer_id: str
    segment: str = ""
    time_zone: str = "UTC"
    monthly_income_minor: int = 0
    payday: int = 0  # day of month, 0 = unknown
    savings_balance_minor: int = 0
    overdraft_limit_minor: int = 0
    currency: str = ""
    current_account_id: str = ""
    savings_account_id: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> ProfileFacts:
        return cls(**raw)  # type: ignore[arg-type]
