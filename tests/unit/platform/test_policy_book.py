"""The kernel's policy book: one layout, validated on load with the bad field named, the version in force by
effective instant, and a refusal (not a silent fallback) before the first version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import Field

from services.devtools.policy_schemas import books
from services.platform.errors import FailedPreconditionError
from services.platform.policy_book import PolicyBook, PolicyFileError, PolicyNotInForceError, PolicyVersion, schema_of


class Limits(PolicyVersion):
    max_items: int = Field(gt=0)


def book(tmp_path: Path, *versions: dict) -> PolicyBook[Limits]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"description": "test", "versions": list(versions)}))
    return PolicyBook.load(path, Limits)


def v(name: str, start: str, max_items: object = 5) -> dict:
    return {"version": name, "effective_from": start, "max_items": max_items}


def test_the_version_in_force_is_the_latest_started_and_none_before_the_first(tmp_path):
    b = book(tmp_path, v("b", "2026-06-01T00:00:00Z", 7), v("a", "2026-01-01T00:00:00+01:00"))
    assert [x.version for x in b.versions] == ["a", "b"]  # sorted by instant, whatever the file order
    assert b.versions[0].effective_from == datetime(2025, 12, 31, 23, tzinfo=UTC)  # kept as UTC
    assert b.at(datetime(2026, 5, 31, 23, 59, tzinfo=UTC)).version == "a"
    assert b.at(datetime(2026, 6, 1, tzinfo=UTC)).version == "b" and b.latest.max_items == 7
    with pytest.raises(PolicyNotInForceError) as refused:
        b.at(datetime(2025, 12, 31, 22, 59, tzinfo=UTC))
    assert isinstance(refused.value, FailedPreconditionError) and "no version of" in str(refused.value)


@pytest.mark.parametrize(("versions", "message"), [
    ([v("a", "2026-01-01T00:00:00Z", 0)], "version a: max_items: Input should be greater than 0"),
    ([v("a", "2026-01-01T00:00:00Z", "many")], "version a: max_items: Input should be a valid integer"),
    ([v("a", "2026-01-01T00:00:00")], "version a: effective_from: Input should have timezone info"),
    ([{**v("a", "2026-01-01T00:00:00Z"), "max_itmes": 3}], "version a: max_itmes: Extra inputs are not permitted"),
    ([{"effective_from": "2026-01-01T00:00:00Z", "max_items": 1}], "version #0: version: Field required"),
    ([v("a", "2026-01-01T00:00:00Z"), v("a", "2026-02-01T00:00:00Z")], "version names repeat"),
    ([], "no versions"),
])
def test_a_bad_policy_file_is_refused_naming_the_version_and_field(tmp_path, versions, message):
    with pytest.raises(PolicyFileError) as refused:
        book(tmp_path, *versions)
    assert message in str(refused.value) and "policy.json" in str(refused.value)


def test_every_service_policy_in_the_book_loads_and_its_published_schema_is_current():
    for model, policy_file in books():
        assert PolicyBook.load(policy_file, model).versions, policy_file
        published = json.loads(policy_file.with_name("policy.schema.json").read_text())
        assert published == json.loads(json.dumps(schema_of(model))), (
            f"{policy_file.parent.name}: run `python -m services.devtools.policy_schemas`")
