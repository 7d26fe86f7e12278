"""Money: integer minor units plus an ISO 4217 currency."""

from __future__ import annotations

# ISO 4217 codes accepted by the platform, with their minor-unit exponent.
CURRENCY_EXPONENTS: dict[str, int] = {
    "GBP": 2, "EUR": 2, "USD": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "HKD": 2, "CNY": 2, "INR": 2, "ZAR": 2,
    "MXN": 2, "BRL": 2, "JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3,
}
_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def format_money(amount_minor: int, currency: str) -> str:
    """`format_money(-123456, "GBP")` -> `"-£1,234.56"`: the way a customer reads an amount."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    body = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {currency}"
