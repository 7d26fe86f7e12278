"""One settings object, read from environment variables with working defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

KAFKA_VERSION = "4.3.1"
DEVELOPMENT = "development"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def _flag(name: str, default: bool) -> bool:
    return _env(name, "true" if default else "false").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about its surroundings."""

    # Kafka: empty bootstrap servers = the embedded broker started by the project
    kafka_bootstrap_servers: str = ""
    kafka_home: Path = Path.home() / ".cache" / "proactive-care" / f"kafka-{KAFKA_VERSION}"
    # the Kafka client library (services/platform/kafka_client.py): kafka-python (pure Python, the default) or
    # confluent (confluent-kafka over librdkafka)
    kafka_client: str = "kafka-python"
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
    # A plaintext port that serves only grpc.health.v1 (no customer data), for probes that cannot speak TLS
    # (Kubernetes' built-in gRPC probes, compose health checks). 0 = none; on the gRPC host.
    health_port: int = 0
    metrics_host: str = "127.0.0.1"  # /metrics is on loopback unless a deployment opens it (METRICS_HOST)
    metrics_port: int = 0
    # /metrics over TLS when a certificate and key are given; a client CA makes the scraper present a certificate
    metrics_tls_cert_file: str = ""
    metrics_tls_key_file: str = ""
    metrics_tls_client_ca_file: str = ""
    grpc_reflection: bool = True
    # `development` (make run, the tests): a generated identity provider key and CA under data_dir. Anything
    # else is production: a service refuses to start without a JWKS, with the development key, or on a
    # non-loopback address without TLS (services/platform/security.py).
    environment: str = "production"
    # bearer tokens: the identity provider's JWKS (https:// URL or file), its issuer, each service's audience
    # (`<auth_audience_prefix><service>`, e.g. proactive-care/fraud)
    auth_jwks_url: str = ""
    auth_issuer: str = ""
    auth_audience_prefix: str = "proactive-care/"
    auth_leeway_seconds: float = 30.0
    auth_jwks_refresh_cooldown_seconds: float = 30.0
    auth_jwks_ca_file: str = ""  # the CA of an https:// JWKS when it is not one the system trusts (a bank's own)
    auth_jwks_timeout_seconds: float = 5.0  # one JWKS fetch (it runs off the event loop: other calls go on)
    # step-up for sensitive customer actions (UnfreezeCard): the `acr` values that are a strong customer
    # authentication (space-separated; the UK Open Banking SCA value by default) and how recent it must be
    step_up_acr_values: str = "urn:openbanking:psd2:sca"
    step_up_max_age_seconds: float = 300.0
    # gRPC TLS, server side: certificate chain and key; a client CA turns on mutual TLS (client certificates)
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # gRPC TLS, client side (CLI, tests, service-to-service): the CA to trust, and a client certificate for mTLS
    grpc_tls_ca_file: str = ""
    grpc_tls_client_cert_file: str = ""
    grpc_tls_client_key_file: str = ""
    # server limits
    grpc_max_concurrent_rpcs: int = 1000
    grpc_max_message_bytes: int = 1024 * 1024
    grpc_keepalive_time_ms: int = 60_000
    grpc_max_connection_age_ms: int = 30 * 60_000
    subscribe_streams_per_customer: int = 5
    micro_batch_queue_max: int = 10_000  # calls waiting to be scored together (fraud's ScoreTransaction)
    # a dead letter larger than this keeps its headers (source offset) but not its value
    dlq_max_value_bytes: int = 64 * 1024
    # event time: a record dated more than this far ahead, or before the floor, is dead-lettered
    event_future_skew_seconds: float = 300.0
    event_time_floor: str = "2000-01-01T00:00:00+00:00"
    # Kafka security: PLAINTEXT | SSL | SASL_SSL (SCRAM-SHA-256/512), passed through to every client
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
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
    # each kind) stay cached in memory, and shared state read from the store is re-read once this old. Small on
    # purpose: a shared key is re-read after the TTL anyway, and at scale a customer pays again hours later (a
    # replica's share of 100,000 customers at ~2 payments a day), so a bigger cache buys hits only for bursts
    # while its memory grows with the customers up to the limit (a customer's 38-day history: ~10-20 KB)
    state_cache_customers: int = 1_000
    state_cache_entities: int = 2_000
    shared_state_ttl_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", ""),
            kafka_client=_env("KAFKA_CLIENT", d.kafka_client).strip().lower(),
            kafka_home=Path(_env("KAFKA_HOME", str(d.kafka_home))),
            kafka_port=int(_env("KAFKA_PORT", str(d.kafka_port))),
            kafka_controller_port=int(_env("KAFKA_CONTROLLER_PORT", str(d.kafka_controller_port))),
            data_dir=Path(_env("PROACTIVE_CARE_DATA_DIR", str(d.data_dir))),
            database_url=_env("DATABASE_URL", d.database_url),
            database_schema_prefix=_env("DATABASE_SCHEMA_PREFIX", d.database_schema_prefix),
            grpc_host=_env("GRPC_HOST", d.grpc_host),
            grpc_port=int(_env("GRPC_PORT", str(d.grpc_port))),
            health_port=int(_env("HEALTH_PORT", str(d.health_port))),
            metrics_host=_env("METRICS_HOST", d.metrics_host),
            metrics_port=int(_env("METRICS_PORT", str(d.metrics_port))),
            metrics_tls_cert_file=_env("METRICS_TLS_CERT_FILE", d.metrics_tls_cert_file),
            metrics_tls_key_file=_env("METRICS_TLS_KEY_FILE", d.metrics_tls_key_file),
            metrics_tls_client_ca_file=_env("METRICS_TLS_CLIENT_CA_FILE", d.metrics_tls_client_ca_file),
            grpc_reflection=_flag("GRPC_REFLECTION", d.grpc_reflection),
            environment=_env("PROACTIVE_CARE_ENV", d.environment).strip().lower(),
            auth_jwks_url=_env("AUTH_JWKS_URL", d.auth_jwks_url),
            auth_issuer=_env("AUTH_ISSUER", d.auth_issuer),
            auth_audience_prefix=_env("AUTH_AUDIENCE_PREFIX", d.auth_audience_prefix),
            auth_leeway_seconds=float(_env("AUTH_LEEWAY_SECONDS", str(d.auth_leeway_seconds))),
            auth_jwks_refresh_cooldown_seconds=float(_env("AUTH_JWKS_REFRESH_COOLDOWN_SECONDS",
                                                          str(d.auth_jwks_refresh_cooldown_seconds))),
            auth_jwks_ca_file=_env("AUTH_JWKS_CA_FILE", d.auth_jwks_ca_file),
            auth_jwks_timeout_seconds=float(_env("AUTH_JWKS_TIMEOUT_SECONDS", str(d.auth_jwks_timeout_seconds))),
            step_up_acr_values=_env("STEP_UP_ACR_VALUES", d.step_up_acr_values),
            step_up_max_age_seconds=float(_env("STEP_UP_MAX_AGE_SECONDS", str(d.step_up_max_age_seconds))),
            tls_cert_file=_env("TLS_CERT_FILE", d.tls_cert_file),
            tls_key_file=_env("TLS_KEY_FILE", d.tls_key_file),
            tls_client_ca_file=_env("TLS_CLIENT_CA_FILE", d.tls_client_ca_file),
            grpc_tls_ca_file=_env("GRPC_TLS_CA_FILE", d.grpc_tls_ca_file),
            grpc_tls_client_cert_file=_env("GRPC_TLS_CLIENT_CERT_FILE", d.grpc_tls_client_cert_file),
            grpc_tls_client_key_file=_env("GRPC_TLS_CLIENT_KEY_FILE", d.grpc_tls_client_key_file),
            grpc_max_concurrent_rpcs=int(_env("GRPC_MAX_CONCURRENT_RPCS", str(d.grpc_max_concurrent_rpcs))),
            grpc_max_message_bytes=int(_env("GRPC_MAX_MESSAGE_BYTES", str(d.grpc_max_message_bytes))),
            grpc_keepalive_time_ms=int(_env("GRPC_KEEPALIVE_TIME_MS", str(d.grpc_keepalive_time_ms))),
            grpc_max_connection_age_ms=int(_env("GRPC_MAX_CONNECTION_AGE_MS", str(d.grpc_max_connection_age_ms))),
            subscribe_streams_per_customer=int(_env("SUBSCRIBE_STREAMS_PER_CUSTOMER",
                                                    str(d.subscribe_streams_per_customer))),
            dlq_max_value_bytes=int(_env("DLQ_MAX_VALUE_BYTES", str(d.dlq_max_value_bytes))),
            micro_batch_queue_max=int(_env("MICRO_BATCH_QUEUE_MAX", str(d.micro_batch_queue_max))),
            event_future_skew_seconds=float(_env("EVENT_FUTURE_SKEW_SECONDS", str(d.event_future_skew_seconds))),
            event_time_floor=_env("EVENT_TIME_FLOOR", d.event_time_floor),
            kafka_security_protocol=_env("KAFKA_SECURITY_PROTOCOL", d.kafka_security_protocol).upper(),
            kafka_ssl_cafile=_env("KAFKA_SSL_CAFILE", d.kafka_ssl_cafile),
            kafka_ssl_certfile=_env("KAFKA_SSL_CERTFILE", d.kafka_ssl_certfile),
            kafka_ssl_keyfile=_env("KAFKA_SSL_KEYFILE", d.kafka_ssl_keyfile),
            kafka_sasl_mechanism=_env("KAFKA_SASL_MECHANISM", d.kafka_sasl_mechanism),
            kafka_sasl_username=_env("KAFKA_SASL_USERNAME", d.kafka_sasl_username),
            kafka_sasl_password=_env("KAFKA_SASL_PASSWORD", d.kafka_sasl_password),
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
    def development(self) -> bool:
        return self.environment == DEVELOPMENT

    def audience(self, service: str) -> str:
        """The `aud` a token must carry to call `service`."""
        return f"{self.auth_audience_prefix}{service}"

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
