"""Advisor queue policy as versioned data (`policy.json`, the kernel's policy book): lease and snooze bounds, the
outcomes an advisor may record, paging, the SLA sweep."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from pydantic import Field

from services.platform.policy_book import PolicyBook, PolicyVersion

POLICY_FILE = Path(__file__).with_name("policy.json")


class QueuePolicy(PolicyVersion):
    default_lease_seconds: int = Field(gt=0, description="lease of a claim when the advisor asks for none")
    max_lease_seconds: int = Field(gt=0, description="the longest lease an advisor may ask for")
    max_snooze_seconds: int = Field(gt=0, description="the longest snooze")
    outcomes: frozenset[str] = Field(min_length=1, description="the outcomes an advisor may record")
    default_page_size: int = Field(gt=0)
    max_page_size: int = Field(gt=0)
    max_urgency: float = Field(gt=0, description="urgency of a task is clipped to this")
    sla_sweep_seconds: int = Field(gt=0, description="how often breached SLAs are marked")


@cache
def policy_book(path: Path = POLICY_FILE) -> PolicyBook[QueuePolicy]:
    return PolicyBook.load(path, QueuePolicy)


def policy_at(instant: datetime) -> QueuePolicy:
    return policy_book().at(instant)
