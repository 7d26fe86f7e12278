"""The mortgage service's own metrics (prefix `proactivecare_mortgage_`); never a customer id as a label."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from services.mortgage import signals as sig
from services.platform import followups

PREFIX = "proactivecare_mortgage"
OUTCOMES = ("ELIGIBLE", "REFER", "DECLINE")
SIGNAL_CODES = (sig.SALARY_MISSING, sig.PAYMENT_AT_RISK, sig.MORTGAGE_PAYMENT_RETURNED, sig.INCOME_FALLING,
                sig.RETURNED_DIRECT_DEBITS, sig.PAYDAY_LOAN, sig.RISING_OVERDRAFT, sig.GAMBLING_SHARE_RISING)


@dataclass
class MortgageMetrics:
    eligibility: Counter
    care_offers: Counter
    advisor_tasks: Counter
    signals: Counter
    evaluations: Counter
    followups: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> MortgageMetrics:
        m = cls(
            eligibility=Counter(f"{PREFIX}_eligibility_decisions_total", "CheckEligibility answers by outcome",
                                ("jurisdiction", "outcome"), registry=registry),
            care_offers=Counter(f"{PREFIX}_care_offers_total", "CARE_OFFER notifications emitted (first time only)",
                                registry=registry),
            advisor_tasks=Counter(f"{PREFIX}_advisor_tasks_total", "Payment-difficulty tasks for advisers",
                                  registry=registry),
            signals=Counter(f"{PREFIX}_signals_total", "Payment-difficulty signals seen at a daily evaluation",
                            ("signal",), registry=registry),
            evaluations=Counter(f"{PREFIX}_care_evaluations_total",
                                "Daily care evaluations of a mortgage holder, by result", ("result",),
                                registry=registry),
            followups=followups.counter(registry),
        )
        for j in ("US", "UK"):
            for o in OUTCOMES:
                m.eligibility.labels(j, o)
        for code in SIGNAL_CODES:
            m.signals.labels(code)
        for result in ("no_signal", "watch", "offer", "duplicate", "no_policy"):
            m.evaluations.labels(result)
        return m
