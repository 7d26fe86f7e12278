from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.advice.policy import POLICY_FILE, parse_policy_book
from services.platform.errors import ValidationError


def document() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text())


def test_the_version_in_force_is_the_latest_effective_one() -> None:
    doc = document()
    newer = copy.deepcopy(doc["versions"][0])
    newer["version"] = "advice-next"
    newer["effective_from"] = "2027-01-01T00:00:00Z"
    newer["rules"]["LOW_BALANCE"]["min_amount_minor"] = 10_000
    doc["versions"].append(newer)
    book = parse_policy_book(doc)
    assert book.at(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).rule("LOW_BALANCE").min_amount_minor == 20_000
    assert book.at(datetime(2027, 1, 1, tzinfo=UTC)).version == "advice-next"


def test_no_policy_before_the_first_effective_date() -> None:
    with pytest.raises(ValidationError) as raised:
        parse_policy_book(document()).at(datetime(2000, 1, 1, tzinfo=UTC))
    assert raised.value.field == "instant"


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
    ({"versions": []}, "versions"),
    (_without(["effective_from"]), "versions[0].effective_from"),
    (_without(["ranking"]), "versions[0].ranking"),
    (_with(["rules", "LOW_BALANCE", "min_amount_minor"], -1), "versions[0].rules.LOW_BALANCE.min_amount_minor"),
    (_with(["rules", "FEE_CHARGED", "min_percent"], 5000), "versions[0].rules.FEE_CHARGED.min_percent"),
    (_with(["rules", "IDLE_CASH", "refire_days"], -3), "versions[0].rules.IDLE_CASH.refire_days"),
    (_with(["rules", "IDLE_CASH", "notification_priority"], "LOUD"),
     "versions[0].rules.IDLE_CASH.notification_priority"),
    (_with(["effective_from"], "next tuesday"), "versions[0]"),
]


@pytest.mark.parametrize(("doc", "field"), BAD_DOCUMENTS)
def test_a_bad_policy_document_is_rejected_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_policy_book(doc)
    assert raised.value.field == field


def test_a_naive_instant_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_policy_book(document()).at(datetime(2026, 1, 1))
