"""One settings object, read from environment variables with working defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

KAFKA_VERSION = "4.3.1"
DEV_AUTH_SECRET = "proactive-care-development-key-not-for-production"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about its surroundings."""

    # Kafka: empty bootstrap servers = the embedded broker started by the project
    kafka_bootstrap_servers: str = ""
    kafka_home: Path = Path.home() / ".cache" / "proactive-care" / f"kafka-{KAFKA_VERSION}"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    data_dir: Path = Path("var")
    # the store: empty = each service's own SQLite file under data_dir; `postgresql://...` = one database, a
    # schema per service named `<database_schema_prefix><service>` (tests isolate runs with the prefix)
    database_url: str = ""
    database_schema_prefix: str = ""
    # gRPC and metrics
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    metrics_port: int = 0
    auth_secret: str = DEV_AUTH_SECRET
    # stream runner
    poll_max_records: int = 2000
    poll_timeout_ms: int = 200
    stuck_batch_seconds: float = 60.0
    # transient failures (database locked or unreachable, broker or producer time-out): the batch is retried with
    # capped exponential backoff and jitter; the worker reports NOT_SERVING once they have lasted this long
    retry_backoff_seconds: float = 0.2
    retry_backoff_max_seconds: float = 10.0
    transient_unhealthy_seconds: float = 60.0
    produce_timeout_seconds: float = 30.0  # a flush (or a send waiting for metadata) longer than this fails
    # processed-event records are kept as long as Kafka may redeliver (the topics' retention)
    processed_retention_hours: float = 168.0
    consumer_group_prefix: str = "proactive-care"
    topic_prefix: str = ""
    # a worker's per-customer state lives in the store; this many customers (and shared keys, e.g. terminals, of
    # each kind) stay cached in memory, and shared state read from the store is re-read once this old
    state_cache_customers: int = 5_000
    state_cache_entities: int = 20_000
    shared_state_ttl_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", ""),
            kafka_home=Path(_env("KAFKA_HOME", str(d.kafka_home))),
            kafka_port=int(_env("KAFKA_PORT", str(d.kafka_port))),
            kafka_controller_port=int(_env("KAFKA_CONTROLLER_PORT", str(d.kafka_controller_port))),
            data_dir=Path(_env("PROACTIVE_CARE_DATA_DIR", str(d.data_dir))),
            database_url=_env("DATABASE_URL", d.database_url),
            database_schema_prefix=_env("DATABASE_SCHEMA_PREFIX", d.database_schema_prefix),
            grpc_host=_env("GRPC_HOST", d.grpc_host),
            grpc_port=int(_env("GRPC_PORT", str(d.grpc_port))),
            metrics_port=int(_env("METRICS_PORT", str(d.metrics_port))),
            auth_secret=_env("AUTH_SECRET", d.auth_secret),
            poll_max_records=int(_env("POLL_MAX_RECORDS", str(d.poll_max_records))),
            poll_timeout_ms=int(_env("POLL_TIMEOUT_MS", str(d.poll_timeout_ms))),
            stuck_batch_seconds=float(_env("STUCK_BATCH_SECONDS", str(d.stuck_batch_seconds))),
            retry_backoff_seconds=float(_env("RETRY_BACKOFF_SECONDS", str(d.retry_backoff_seconds))),
            retry_backoff_max_seconds=float(_env("RETRY_BACKOFF_MAX_SECONDS", str(d.retry_backoff_max_seconds))),
            transient_unhealthy_seconds=float(_env("TRANSIENT_UNHEALTHY_SECONDS",
                                                   str(d.transient_unhealthy_seconds))),
            produce_timeout_seconds=float(_env("PRODUCE_TIMEOUT_SECONDS", str(d.produce_timeout_seconds))),
            processed_retention_hours=float(_env("PROCESSED_RETENTION_HOURS", str(d.processed_retention_hours))),
            consumer_group_prefix=_env("CONSUMER_GROUP_PREFIX", d.consumer_group_prefix),
            topic_prefix=_env("TOPIC_PREFIX", d.topic_prefix),
            state_cache_customers=int(_env("STATE_CACHE_CUSTOMERS", str(d.state_cache_customers))),
            state_cache_entities=int(_env("STATE_CACHE_ENTITIES", str(d.state_cache_entities))),
            shared_state_ttl_seconds=float(_env("SHARED_STATE_TTL_SECONDS", str(d.shared_state_ttl_seconds))),
        )

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect: an external cluster, or the embedded broker."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def embedded_kafka(self) -> bool:
        return not self.kafka_bootstrap_servers

    def db_path(self, service: str) -> Path:
        """Without DATABASE_URL, each service owns its own SQLite file (shared by its replicas on one host)."""
        return self.data_dir / f"{service}.sqlite"

    def topic(self, name: str) -> str:
        """The topic's name in this deployment (`TOPIC_PREFIX` isolates test runs sharing one broker)."""
        return f"{self.topic_prefix}{name}"

    def group_id(self, service: str) -> str:
        return f"{self.consumer_group_prefix}.{service}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
