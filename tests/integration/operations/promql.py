"""The metric names a PromQL expression reads (enough of PromQL for dashboards and alert rules)."""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBERS = re.compile(r"(?<![A-Za-z0-9_:])\d[\w.]*")  # 0.99, 5m, 1e-3
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Identifiers that are not functions, keywords, labels or template text."""
    text = re.sub(r"\{\{[^}]*\}\}", "", expr)  # Go templates in annotations never reach here, but be safe
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING, _NUMBERS):
        text = pattern.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end():].lstrip()
        if rest.startswith("(") or m.group().lower() in _KEYWORDS:
            continue
        names.add(m.group())
    return names


def exported_names(exposition: str) -> set[str]:
    """Sample names a /metrics page can carry, from its `# TYPE` lines (a labelled metric with no child yet
    has no sample, but it is exported as soon as it has one)."""
    names = set()
    for line in exposition.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split(maxsplit=3)
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", name}
        elif kind == "counter":
            names |= {name, f"{name.removesuffix('_total')}_created"}
        else:
            names.add(name)
    return names
