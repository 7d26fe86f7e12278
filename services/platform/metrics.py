"""Metrics: one naming scheme (prefix `proactivecare_`, base units, `_total` on counters), a registry passed
in so tests can use a private one, and `/metrics` served on its own port (on loopback by default; TLS, and client
certificates of a CA, when configured). Never a customer id as a label."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

PREFIX = "proactivecare"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class StreamMetrics:
    """What operations watch on every stream worker."""

    consumed: Counter
    handled: Counter
    dead_lettered: Counter
    replayed: Counter
    transient_failures: Counter
    batch_seconds: Histogram
    lag: Gauge
    last_processed: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> StreamMetrics:
        labels = ("service", "topic")
        return cls(
            consumed=Counter(f"{PREFIX}_stream_records_consumed_total", "Records polled from Kafka",
                             labels, registry=registry),
            handled=Counter(f"{PREFIX}_stream_records_handled_total", "Records handed to the service handler",
                            labels, registry=registry),
            dead_lettered=Counter(f"{PREFIX}_stream_records_dead_lettered_total",
                                  "Records sent to the dead-letter topic", (*labels, "reason"),
                                  registry=registry),
            replayed=Counter(f"{PREFIX}_stream_records_redelivered_total",
                             "Redelivered records whose effects were already applied", labels,
                             registry=registry),
            transient_failures=Counter(f"{PREFIX}_stream_transient_failures_total",
                                       "Batches or polls that failed transiently and were retried after a backoff",
                                       ("service",), registry=registry),
            batch_seconds=Histogram(f"{PREFIX}_stream_batch_handling_seconds",
                                    "Time from poll to committed offsets, per batch", ("service",),
                                    buckets=LATENCY_BUCKETS, registry=registry),
            lag=Gauge(f"{PREFIX}_stream_consumer_lag_records", "Records behind the partition end",
                      ("service", "topic", "partition"), registry=registry),
            last_processed=Gauge(f"{PREFIX}_stream_last_processed_timestamp_seconds",
                                 "Unix time of the last committed batch", ("service",), registry=registry),
        )


@dataclass
class GrpcMetrics:
    """The go-grpc-prometheus names, so existing dashboards work."""

    started: Counter
    handled: Counter
    handling_seconds: Histogram
    msg_sent: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GrpcMetrics:
        base = ("grpc_type", "grpc_service", "grpc_method")
        return cls(
            started=Counter("grpc_server_started_total", "RPCs started on the server", base, registry=registry),
            handled=Counter("grpc_server_handled_total", "RPCs completed on the server",
                            (*base, "grpc_code"), registry=registry),
            handling_seconds=Histogram("grpc_server_handling_seconds", "RPC handling time", base,
                                       buckets=LATENCY_BUCKETS, registry=registry),
            msg_sent=Counter("grpc_server_msg_sent_total", "Stream messages sent", base, registry=registry),
        )


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1", *, cert_file: str = "",
                  key_file: str = "", client_ca_file: str = "") -> tuple[WSGIServer, int]:
    """Start `/metrics` on its own port (0 = any free port); returns the server and the bound port. With
    `cert_file` and `key_file` it serves HTTPS (TLS 1.2 at least); with `client_ca_file` too, a scraper must
    present a certificate of that CA (METRICS_TLS_CERT_FILE, METRICS_TLS_KEY_FILE, METRICS_TLS_CLIENT_CA_FILE).

    The service's private registry also gets the process, Python platform and GC collectors that the default
    registry has (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...)."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    tls: dict[str, object] = {}
    if cert_file:
        tls = {"certfile": cert_file, "keyfile": key_file or None, "client_cafile": client_ca_file or None,
               "client_auth_required": bool(client_ca_file), "tls_min_version": ssl.TLSVersion.TLSv1_2}
    server, _thread = start_http_server(port, addr=host, registry=registry, **tls)  # type: ignore[arg-type]
    return server, server.server_port
