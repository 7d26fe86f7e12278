"""Rewrite the published JSON Schema beside every policy that lives in the kernel's policy book:
`python -m services.devtools.policy_schemas` (tests/unit/test_policy_books.py fails when one is stale)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from services.platform.policy_book import PolicyVersion, write_schema

# (module, model class) of each service policy kept in the policy book
BOOKS = (("services.advisor.policy", "QueuePolicy"), ("services.notify.policy", "Policy"),
         ("services.fraud.policy", "FraudPolicy"), ("services.advice.policy", "Policy"))


def books() -> list[tuple[type[PolicyVersion], Path]]:
    found = []
    for module_name, model_name in BOOKS:
        module = importlib.import_module(module_name)
        found.append((getattr(module, model_name), module.POLICY_FILE))
    return found


def main() -> int:
    for model, policy_file in books():
        print(write_schema(model, policy_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
