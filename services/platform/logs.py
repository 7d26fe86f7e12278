"""Logs: readable text for a person at a terminal; with `LOG_FORMAT=json` (the Kubernetes and compose
deployments set it) one JSON object per line on stderr, for the cluster's log pipeline.

Every line carries the service and the replica (pod name); the gRPC call's request id when there is one
(`x-request-id` metadata, or one drawn per call); the trace id of the current span while tracing is on; and the
`event_id`, `topic`, `partition`, `offset` or `customer_id` a caller passes in `extra=`. Ids only: never a card
number, a name or an exception's message (it may quote input); an exception is logged as its type and its stack
of code positions.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import sys
import traceback
from datetime import UTC, datetime

from opentelemetry import trace

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

EXTRA_KEYS = ("event_id", "topic", "partition", "offset", "customer_id", "trace_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, replica: str) -> None:
        super().__init__()
        self.service = service
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "service": self.service, "replica": self.replica,
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
        for key in EXTRA_KEYS:
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(line, default=str)


def configure(service: str, level: int = logging.INFO) -> None:
    """Set up the root logger of a process (once, at start-up)."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter(service, os.environ.get("REPLICA") or socket.gethostname()))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING)
