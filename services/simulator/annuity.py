"""Repayment-mortgage arithmetic (annuity formula), in integer minor units."""

from __future__ import annotations


def monthly_rate(rate_bps: int) -> float:
    return rate_bps / 10_000 / 12


def annuity_payment(principal_minor: int, rate_bps: int, months: int) -> int:
    """M = P r (1+r)^n / ((1+r)^n - 1), r = annual rate / 12; M = P / n when r = 0. Rounded to the penny."""
    if months <= 0:
        raise ValueError("months must be > 0")
    r = monthly_rate(rate_bps)
    if r == 0:
        return round(principal_minor / months)
    growth = (1 + r) ** months
    return round(principal_minor * r * growth / (growth - 1))


def principal_for_payment(payment_minor: int, rate_bps: int, months: int) -> int:
    """The principal that a monthly payment repays over ``months``: P = M (1 - (1+r)^-n) / r."""
    if months <= 0:
        raise ValueError("months must be > 0")
    r = monthly_rate(rate_bps)
    if r == 0:
        return payment_minor * months
    return round(payment_minor * (1 - (1 + r) ** -months) / r)


def balance_after_payments(principal_minor: int, rate_bps: int, payment_minor: int, k: int) -> int:
    """B_k = P (1+r)^k - M ((1+r)^k - 1) / r."""
    r = monthly_rate(rate_bps)
    if r == 0:
        return principal_minor - payment_minor * k
    growth = (1 + r) ** k
    return round(principal_minor * growth - payment_minor * (growth - 1) / r)
