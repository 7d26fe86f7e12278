"""Why something was decided: the domain twin of `common_pb2.Reason`, shared by every service."""

from __future__ import annotations

from dataclasses import dataclass

from services.gen.proactivecare.v1 import common_pb2


@dataclass(frozen=True)
class Reason:
    code: str  # stable, for machines: "AMOUNT_VS_USUAL"
    text: str  # plain words, for the customer: "3x your usual amount"
    weight: float = 0.0  # contribution to the decision, when there is one

    def to_proto(self) -> common_pb2.Reason:
        return common_pb2.Reason(code=self.code, text=self.text, weight=self.weight)
