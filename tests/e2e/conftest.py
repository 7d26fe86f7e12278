"""End-to-end tests use the integration fixtures (one real broker per session) and the small fraud model."""

import pytest

from tests.integration.conftest import produce, settings, token  # noqa: F401


@pytest.fixture
def backend() -> str:
    """The whole journey runs on SQLite only (the integration suites cover PostgreSQL): `make test` stays short."""
    return "sqlite"
