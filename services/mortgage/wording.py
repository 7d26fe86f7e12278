"""How figures read to a customer: percentages, multiples, money and months. Pure formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from services.platform.money import format_money


def pct(ratio: Fraction, places: int = 1) -> str:
    """Fraction(1, 2) -> "50%", Fraction(4231, 10000) -> "42.3%"."""
    value = Decimal(ratio.numerator * 100) / Decimal(ratio.denominator)
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def multiple(ratio: Fraction, places: int = 2) -> str:
    """Fraction(9, 2) -> "4.5x"."""
    value = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}x"


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency)


def months(n: int) -> str:
    if n % 12 == 0 and n >= 24:
        return f"{n // 12} years"
    return "1 month" if n == 1 else f"{n} months"


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def rate(rate_bps: int) -> str:
    return pct(Fraction(rate_bps, 10_000), places=2)
