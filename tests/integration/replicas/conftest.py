"""Replica fixtures: an embedded PostgreSQL and an Apache Kafka broker of the test's own (the process tests restart
them mid-stream, which the other tests must not see), and the session's small fraud model."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devtools.kafka_launcher import EmbeddedKafka, ensure_topics, free_port
from services.devtools.postgres_launcher import EmbeddedPostgres
from services.platform.settings import Settings


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    directory = Path(tempfile.mkdtemp(prefix="proactive-care-pg-replicas-"))
    directory.chmod(0o755)  # as root the server runs as another user, who must reach its data dir
    server = EmbeddedPostgres(directory, ephemeral=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def own_stack(tmp_path: Path, own_postgres: EmbeddedPostgres) -> Iterator[tuple[Settings, EmbeddedKafka]]:
    """Settings on a broker and a PostgreSQL of this test's own; topics created."""
    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap_servers="", kafka_port=free_port(), kafka_controller_port=free_port(), data_dir=tmp_path,
        topic_prefix=f"r{run}.", consumer_group_prefix=f"r{run}", poll_timeout_ms=100, poll_max_records=200,
        grpc_port=0, metrics_port=0, produce_timeout_seconds=5.0, retry_backoff_max_seconds=2.0,
        transient_unhealthy_seconds=120.0, database_url=own_postgres.url, database_schema_prefix=f"r{run}_")
    broker = EmbeddedKafka(settings, data_dir=tmp_path / "kafka")
    broker.start()
    try:
        ensure_topics(settings)
        yield settings, broker
    finally:
        broker.stop()
