"""The shape every service shares, checked from the code: a declared service per registered name, and the import
boundaries (the kernel imports no service and no tool; only a service's `offline/` may import the simulator; the
running service never imports its `offline/`; the product never imports the tests)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services import registry
from services.platform.app import Service

ROOT = Path(__file__).resolve().parents[2] / "services"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "gen" not in p.relative_to(ROOT).parts[:1])


@pytest.mark.parametrize("name", registry.NAMES)
def test_every_registered_service_is_declared_with_the_same_names(name):
    declared = registry.service(name)
    assert isinstance(declared, Service)
    assert declared.name == name
    assert declared.api.name.startswith("proactivecare.v1.") and declared.api.access
    assert declared.migrations, "a service's store has at least one migration"
    folder = ROOT / name
    for part in ("app.py", "repository.py", "service.py", "worker.py", "metrics.py", "policy.py", "README.md"):
        assert (folder / part).exists(), f"services/{name}/{part}"


def test_the_kernel_imports_no_service_no_tool_and_no_test():
    for path in python_files(ROOT / "platform"):
        bad = {m for m in imports_of(path) if m.startswith(("services.", "tests"))
               and not m.startswith(("services.platform", "services.gen"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_only_offline_code_and_tools_import_the_simulator():
    allowed = ("simulator", "devtools")
    for path in python_files(ROOT):
        parts = path.relative_to(ROOT).parts
        if parts[0] in allowed or "offline" in parts:
            continue
        bad = {m for m in imports_of(path) if m.startswith("services.simulator")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("name", registry.NAMES)
def test_the_running_service_never_imports_its_offline_work(name):
    for path in python_files(ROOT / name):
        parts = path.relative_to(ROOT / name).parts
        if parts[0] in ("offline", "commands.py"):  # the CLI runs offline jobs; the service does not
            continue
        bad = {m for m in imports_of(path) if ".offline" in m}
        assert not bad, f"services/{name}/{'/'.join(parts)} imports {sorted(bad)}"


def test_the_product_never_imports_the_tests():
    for path in python_files(ROOT):
        bad = {m for m in imports_of(path) if m == "tests" or m.startswith("tests.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
