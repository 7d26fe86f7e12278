"""Spending categories from ISO 18245 merchant category codes (reference data, not policy)."""

from __future__ import annotations

# (first MCC, last MCC, category), checked in order; the first range that holds the code wins.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (5411, 5411, "groceries"),
    (5422, 5499, "groceries"),
    (5811, 5814, "eating out"),
    (5812, 5812, "eating out"),
    (5813, 5813, "bars"),
    (4111, 4131, "transport"),
    (4121, 4121, "transport"),
    (5541, 5542, "fuel"),
    (3000, 3999, "travel"),
    (4511, 4511, "travel"),
    (4722, 4722, "travel"),
    (7011, 7011, "travel"),
    (4812, 4816, "phone and internet"),
    (4899, 4899, "subscriptions"),
    (5815, 5818, "subscriptions"),
    (7841, 7841, "subscriptions"),
    (4900, 4900, "utilities"),
    (5200, 5299, "home"),
    (5300, 5399, "shopping"),
    (5600, 5699, "clothing"),
    (5700, 5799, "home"),
    (5900, 5999, "shopping"),
    (5912, 5912, "health"),
    (8000, 8099, "health"),
    (7832, 7999, "entertainment"),
    (7995, 7995, "gambling"),
    (6010, 6011, "cash withdrawals"),
    (8211, 8299, "education"),
)
_SPECIFIC = {"7995": "gambling", "5912": "health", "5812": "eating out", "5813": "bars"}


def category_of(mcc: str) -> str:
    """`category_of("5812")` -> `"eating out"`; unknown or missing codes -> `"other"`."""
    if mcc in _SPECIFIC:
        return _SPECIFIC[mcc]
    if not (len(mcc) == 4 and mcc.isdigit()):
        return "other"
    code = int(mcc)
    for low, high, name in _RANGES:
        if low <= code <= high:
            return name
    return "other"
