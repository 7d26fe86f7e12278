"""The runner's integration tests run on each Kafka client of the kernel's seam (`KAFKA_CLIENT`,
services/platform/kafka_client.py). A test module takes this module's fixtures with
`backend, kafka_client, settings = clients.FIXTURES`; its tests then run on kafka-python over SQLite and over
PostgreSQL, and on confluent-kafka over SQLite (the store backend does not meet the client: a fourth case would
add time to `make test`, not coverage)."""

from __future__ import annotations

import pytest

from services.platform.kafka_client import CONFLUENT, KAFKA_PYTHON
from services.platform.settings import Settings

CASES = (("sqlite", KAFKA_PYTHON), ("postgresql", KAFKA_PYTHON), ("sqlite", CONFLUENT))


@pytest.fixture(params=CASES, ids=[f"{backend}-{client}" for backend, client in CASES])
def _backend_and_client(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture
def backend(_backend_and_client: tuple[str, str]) -> str:
    """The store backend of the case (overrides tests/conftest.py's, which runs every backend)."""
    return _backend_and_client[0]


@pytest.fixture
def kafka_client(_backend_and_client: tuple[str, str]) -> str:
    return _backend_and_client[1]


@pytest.fixture
def settings(settings: Settings, kafka_client: str) -> Settings:
    """The test's settings (tests/integration/conftest.py) on the case's Kafka client."""
    return settings.with_overrides(kafka_client=kafka_client)


FIXTURES = (backend, kafka_client, settings)
