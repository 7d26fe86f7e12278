"""Rewrite the published JSON Schema beside every policy that lives in the kernel's policy book:
`python -m services.devtools.policy_schemas` (tests/unit/test_policy_books.py fails when one is stale)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from services.platform.policy_book import PolicyVersion, write_schema

# (module, model class) of each service policy kept in the policy book
BOOKS = (("services.advisor.policy", "QueuePolicy"), ("services.notify.policy", "Policy"),
         ("services.fraud.policy", "FraudPolicy"), ("services.advice.policy", "Policy"),
         ("services.mortgage.policy", "Policy"))


def books() -> list[tuple[type[PolicyVersion], Path]]:
    found = []
    for module_name, model_name in BOOKS:
        module = importlib.import_module(module_name)
        files = getattr(module, "POLICY_FILES", None) or (module.POLICY_FILE,)  # mortgage: a book per jurisdiction
        found += [(getattr(module, model_name), policy_file) for policy_file in files]
    return found


def main() -> int:
    for path in sorted({str(write_schema(model, policy_file)) for model, policy_file in books()}):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
