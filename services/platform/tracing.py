"""Tracing: OpenTelemetry spans that follow one transaction from its producer through the services to the
notification on the bank app's stream. The W3C trace context (`traceparent`, `tracestate`) travels in Kafka
record headers and in gRPC metadata.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (then spans are exported over OTLP, batched) or a test installs
a provider: while off, the hot paths pay one boolean check and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

HEADER_KEYS = ("traceparent", "tracestate")
_state = {"enabled": False}
tracer = trace.get_tracer("proactive-care")


def enabled() -> bool:
    return _state["enabled"]


def configure(service: str) -> None:
    """At process start: export spans over OTLP when an endpoint is configured."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)


def install(provider: trace.TracerProvider) -> None:
    """Use `provider` for every span of this process (once per process: OpenTelemetry's global)."""
    trace.set_tracer_provider(provider)
    _state["enabled"] = True


def set_enabled(on: bool) -> None:
    """Pause or resume tracing after `install` (tests trace only what they look at)."""
    _state["enabled"] = on


def context_from(headers: Iterable[tuple[str, bytes | str]] | None) -> Context | None:
    """The trace context carried by Kafka headers or gRPC metadata, or None when there is none."""
    carrier = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers or () if k in HEADER_KEYS}
    return propagate.extract(carrier) if "traceparent" in carrier else None


def headers_for(span: Span) -> tuple[tuple[str, bytes], ...]:
    """Kafka headers that make the next hop a child of `span`."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return tuple((k, v.encode()) for k, v in carrier.items())


def traceparent(span: Span) -> str:
    return dict(headers_for(span)).get("traceparent", b"").decode()


def start(name: str, kind: SpanKind, parent: Context | None, start_time_ns: int | None = None,
          attributes: dict[str, str | int] | None = None) -> Span:
    return tracer.start_span(name, context=parent, kind=kind, start_time=start_time_ns, attributes=attributes)


def messaging_attributes(topic: str, partition: int, offset: int, operation: str) -> dict[str, str | int]:
    """The OpenTelemetry messaging semantic conventions for one Kafka record."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.operation.type": operation,
            "messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset}


def with_headers(headers: Sequence[tuple[str, bytes]], extra: Sequence[tuple[str, bytes]]) -> tuple[
        tuple[str, bytes], ...]:
    """`headers` with the trace headers of `extra` in place of any it had."""
    return tuple(h for h in headers if h[0] not in HEADER_KEYS) + tuple(extra)
