"""Structured log lines: JSON with the service, replica, request id and event ids; no exception message."""

from __future__ import annotations

import json
import logging
import sys

from services.platform import logs


def _line(record: logging.LogRecord) -> dict:
    return json.loads(logs.JsonFormatter("fraud", "fraud-7d9f-abc").format(record))


def _record(msg: str, exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("services.fraud.worker", logging.WARNING, __file__, 1, msg, (), exc_info)
    record.__dict__.update(extra)
    return record


def test_a_line_names_the_service_replica_request_and_event():
    token = logs.request_id.set("req-42")
    try:
        line = _line(_record("scored %s", event_id="tx-1", topic="transactions", partition=3, offset=17))
    finally:
        logs.request_id.reset(token)
    assert line["service"] == "fraud" and line["replica"] == "fraud-7d9f-abc" and line["level"] == "WARNING"
    assert (line["request_id"], line["event_id"], line["topic"], line["partition"], line["offset"]) == (
        "req-42", "tx-1", "transactions", 3, 17)


def test_an_exception_is_logged_as_its_type_and_stack_never_its_message():
    pan = " ".join(["4111"] * 4)  # the stack shows source lines, so the number must come from data
    try:
        raise ValueError(f"card {pan} did not parse")
    except ValueError:
        line = _line(_record("handler failed", exc_info=sys.exc_info()))
    assert line["exc_type"] == "ValueError"
    assert "test_logs.py" in line["stack"]
    assert "4111" not in json.dumps(line)
    assert "request_id" not in line  # outside a gRPC call


def test_a_line_inside_a_span_carries_its_trace_id():
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    context = SpanContext(trace_id=0x1234, span_id=0x99, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(context)):
        line = _line(_record("scored"))
    assert line["trace_id"] == format(0x1234, "032x")
