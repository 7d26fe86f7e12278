"""Versioned policies: one layout, one loader, one rule for every service.

A service keeps its policy as data in `policy.json` beside its code:

    {"description": "...", "versions": [{"version": "...", "effective_from": "2026-11-01T00:00:00Z", ...}]}

Each version is validated on load by the service's pydantic model (`PolicyVersion` subclass, unknown fields
refused); an error names the file, the version and the field. The JSON Schema of the model is published beside
the file (`policy.schema.json`: `python -m services.devtools.policy_schemas` rewrites them, a test checks they
are current), so whoever edits a policy can validate it with any JSON Schema tool. `at(instant)` gives the version in
force: the latest whose `effective_from` (UTC) is not after the instant. Before the first version the book
refuses (`PolicyNotInForceError`) rather than falling back to some version silently: a change of rules is a new
version with a future date, never an edit of history.
"""

from __future__ import annotations

import bisect
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from services.platform.errors import FailedPreconditionError


class PolicySection(BaseModel):
    """A part of a version (e.g. one rule's thresholds): frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyVersion(BaseModel):
    """What every version has; a service's model adds its own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    effective_from: AwareDatetime

    @field_validator("effective_from")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


V = TypeVar("V", bound=PolicyVersion)


class PolicyFileError(ValueError):
    """The policy file is unreadable or a version is invalid; the message names the file, version and field."""


class PolicyNotInForceError(FailedPreconditionError):
    """No version of the policy is in force at the instant asked about."""


class PolicyBook(Generic[V]):
    def __init__(self, versions: list[V], source: str) -> None:
        if not versions:
            raise PolicyFileError(f"{source}: no versions")
        self.versions = tuple(sorted(versions, key=lambda v: v.effective_from))
        self.source = source
        names = [v.version for v in self.versions]
        if len(set(names)) != len(names):
            raise PolicyFileError(f"{source}: version names repeat: {names}")
        self._starts = [v.effective_from for v in self.versions]

    @classmethod
    def load(cls, path: Path, model: type[V]) -> PolicyBook[V]:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PolicyFileError(f"{path}: {exc}") from exc
        return cls.parse(raw, model, str(path))

    @classmethod
    def parse(cls, raw: object, model: type[V], path: str) -> PolicyBook[V]:
        """A book from a policy document already read (`path` names it in errors)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("versions"), list):
            raise PolicyFileError(f"{path}: expected an object with a `versions` list")
        versions = []
        for i, item in enumerate(raw["versions"]):
            try:
                versions.append(model.model_validate(item))
            except ValidationError as exc:
                name = item.get("version", f"#{i}") if isinstance(item, dict) else f"#{i}"
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise PolicyFileError(f"{path}: version {name}: {where}: {first['msg']}") from exc
        return cls(versions, path)

    def at(self, instant: datetime) -> V:
        """The version in force at `instant` (an aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError(f"{self.source}: the instant must be timezone-aware (UTC), not {instant.isoformat()}")
        i = bisect.bisect_right(self._starts, instant)
        if i == 0:
            raise PolicyNotInForceError(f"no version of {self.source} is in force at {instant.isoformat()} "
                                        f"(the first starts {self._starts[0].isoformat()})")
        return self.versions[i - 1]

    @property
    def latest(self) -> V:
        return self.versions[-1]


def schema_of(model: type[PolicyVersion]) -> dict:
    """The JSON Schema of a whole policy file whose versions follow `model`."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{model.__name__} policy file",
            "type": "object", "required": ["versions"],
            "properties": {"description": {"type": "string"},
                           "versions": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/version"}}},
            "$defs": {"version": model.model_json_schema(ref_template="#/$defs/version/$defs/{model}")}}


def write_schema(model: type[PolicyVersion], policy_file: Path) -> Path:
    out = policy_file.with_name("policy.schema.json")
    out.write_text(json.dumps(schema_of(model), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out
