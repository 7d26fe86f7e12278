"""`proactive-care migrate` (the release job) applies every service's schema once, on either backend."""

from __future__ import annotations

import importlib

import pytest

from services import cli, registry
from services.platform.storage import Store
from tests.stores import rows

SERVICES = registry.NAMES


def test_migrate_all_applies_every_step_once(settings, monkeypatch, capsys):
    monkeypatch.setenv("PROACTIVE_CARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATABASE_SCHEMA_PREFIX", settings.database_schema_prefix)
    assert cli.main(["migrate", "--all"]) == 0
    assert cli.main(["migrate", "--all"]) == 0  # again: nothing to do, no error
    for name in SERVICES:
        store = Store.for_service(settings, name)
        try:
            applied = [r[0] for r in rows(store, "SELECT name FROM schema_versions ORDER BY name")]
        finally:
            store.close()
        expected = [m.name for m in importlib.import_module(f"services.{name}.repository").MIGRATIONS]
        assert set(expected) <= set(applied) and len(applied) == len(set(applied)), name
    assert capsys.readouterr().out.count('"migrated": true') == 10


def test_an_unknown_service_is_one_clear_line(capsys):
    assert cli.main(["migrate", "bogus"]) == 2
    assert capsys.readouterr().out.strip() == (
        "unknown service bogus: choose from fraud, notify, advice, advisor, mortgage")


@pytest.fixture(autouse=True)
def _quiet_logging(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "text")
