"""Proto enum values by their short names.

The v1 contract prefixes every enum value with its enum's name (`NOTIFICATION_KIND_FRAUD_ALERT`, buf STANDARD
lint), so values never collide package-wide. Stored rows, policy files, reason texts and metric labels keep the
short name (`FRAUD_ALERT`): the wire name can change without a data migration or a broken dashboard. These two
functions are the only bridge between them."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@cache
def _prefix(enum: Any) -> str:
    return _CAMEL.sub("_", enum.DESCRIPTOR.name).upper() + "_"


def short_name(enum: Any, value: int) -> str:
    """`short_name(events_pb2.NotificationKind, 1)` -> "FRAUD_ALERT". ValueError for an unknown number."""
    return enum.Name(value).removeprefix(_prefix(enum))


def value_of(enum: Any, name: str) -> int:
    """`value_of(events_pb2.NotificationKind, "FRAUD_ALERT")` -> 1; the full name is accepted too.
    ValueError for an unknown name."""
    return enum.Value(name if name.startswith(_prefix(enum)) else _prefix(enum) + name)


def short_names(enum: Any) -> list[str]:
    """Every short name of the enum, in number order, `UNSPECIFIED` first."""
    return [short_name(enum, number) for number in sorted(enum.values())]
