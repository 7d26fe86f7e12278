"""The advice policy in the kernel's policy book: the version in force, refusal before the first, and a bad
document refused naming its version and field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.advice.policy import POLICY_FILE, Policy
from services.platform.policy_book import PolicyBook, PolicyFileError, PolicyNotInForceError


def document() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text())


def parse(doc: dict[str, Any]) -> PolicyBook[Policy]:
    return PolicyBook.parse(doc, Policy, "advice policy")


def test_the_version_in_force_is_the_latest_effective_one() -> None:
    doc = document()
    newer = copy.deepcopy(doc["versions"][0])
    newer["version"] = "advice-next"
    newer["effective_from"] = "2027-01-01T00:00:00Z"
    newer["rules"]["LOW_BALANCE"]["min_amount_minor"] = 10_000
    doc["versions"].append(newer)
    book = parse(doc)
    assert book.at(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).rule("LOW_BALANCE").min_amount_minor == 20_000
    assert book.at(datetime(2027, 1, 1, tzinfo=UTC)).version == "advice-next"


def test_no_policy_before_the_first_effective_date() -> None:
    with pytest.raises(PolicyNotInForceError):
        parse(document()).at(datetime(2000, 1, 1, tzinfo=UTC))


def test_routing_entries_keep_their_rule_parameters() -> None:
    policy = parse(document()).latest
    assert policy.routing["REPEATED_SHORTFALL"].params["window_days"] == 90
    assert all(k.islower() for k in policy.recurring.subscription_keywords)


def _without(path: list[str]) -> dict[str, Any]:
    doc = document()
    node = doc["versions"][0]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


def _with(path: list[str], value: object) -> dict[str, Any]:
    doc = document()
    node = doc["versions"][0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


BAD_DOCUMENTS = [
    ({"versions": []}, "no versions"),
    (_without(["effective_from"]), "effective_from"),
    (_without(["ranking"]), "ranking"),
    (_with(["rules", "LOW_BALANCE", "min_amount_minor"], -1), "rules.LOW_BALANCE.min_amount_minor"),
    (_with(["rules", "FEE_CHARGED", "min_percent"], 5000), "rules.FEE_CHARGED.min_percent"),
    (_with(["rules", "IDLE_CASH", "refire_days"], -3), "rules.IDLE_CASH.refire_days"),
    (_with(["rules", "IDLE_CASH", "notification_priority"], "LOUD"), "rules.IDLE_CASH.notification_priority"),
    (_with(["rules", "IDLE_CASH", "treshold"], 5), "rules.IDLE_CASH.treshold"),
    (_with(["ranking", "budget", "per_month"], 1), "ranking.budget"),
    (_with(["effective_from"], "next tuesday"), "effective_from"),
]


@pytest.mark.parametrize(("doc", "field"), BAD_DOCUMENTS)
def test_a_bad_policy_document_is_rejected_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyFileError) as raised:
        parse(doc)
    assert field in str(raised.value)


def test_a_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse(document()).at(datetime(2026, 1, 1))
