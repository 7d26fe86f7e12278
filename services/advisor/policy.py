"""Advisor queue policy as versioned data (`policy.json`): the version in force is the latest whose
`effective_from` is not after the instant asked about."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from services.platform.errors import ValidationError

POLICY_FILE = Path(__file__).with_name("policy.json")


@dataclass(frozen=True)
class QueuePolicy:
    version: str
    effective_from: datetime
    default_lease_seconds: int
    max_lease_seconds: int
    max_snooze_seconds: int
    outcomes: frozenset[str]
    default_page_size: int
    max_page_size: int
    max_urgency: float
    sla_sweep_seconds: int


@lru_cache(maxsize=4)
def load_versions(path: str = str(POLICY_FILE)) -> tuple[QueuePolicy, ...]:
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    versions = []
    for v in raw["versions"]:
        versions.append(QueuePolicy(
            version=v["version"],
            effective_from=datetime.fromisoformat(v["effective_from"].replace("Z", "+00:00")).astimezone(UTC),
            default_lease_seconds=int(v["default_lease_seconds"]),
            max_lease_seconds=int(v["max_lease_seconds"]),
            max_snooze_seconds=int(v["max_snooze_seconds"]),
            outcomes=frozenset(v["outcomes"]),
            default_page_size=int(v["default_page_size"]),
            max_page_size=int(v["max_page_size"]),
            max_urgency=float(v["max_urgency"]),
            sla_sweep_seconds=int(v["sla_sweep_seconds"]),
        ))
    return tuple(sorted(versions, key=lambda p: p.effective_from))


def policy_at(instant: datetime) -> QueuePolicy:
    chosen = None
    for version in load_versions():
        if version.effective_from <= instant:
            chosen = version
    if chosen is None:
        raise ValidationError("instant", f"no advisor policy is in force at {instant.isoformat()}")
    return chosen
