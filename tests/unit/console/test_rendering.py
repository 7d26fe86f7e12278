"""The console's pure helpers: durations, SLA countdowns, a queue's summary, server-sent event framing; and the
registry's web apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services import registry
from services.cli import build_parser
from services.console.app import countdown, duration_text, queue_summary, sse
from services.gen.proactivecare.v1 import advisor_pb2, events_pb2

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"),
                                               (3600, "1 h"), (3900, "1 h 5 min"), (-3900, "1 h 5 min"),
                                               (49 * 3600, "2 d 1 h")])
def test_durations_read_as_an_advisor_reads_them(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


def queued(task_id: str, created: datetime, deadline: datetime,
           state: int = advisor_pb2.TASK_STATE_QUEUED) -> advisor_pb2.QueuedTask:
    t = events_pb2.AdvisorTask(id=task_id)
    t.created_at.FromDatetime(created)
    t.sla_deadline.FromDatetime(deadline)
    return advisor_pb2.QueuedTask(task=t, state=state)


def test_a_queue_summary_has_depth_the_oldest_age_and_the_nearest_deadline() -> None:
    tasks = [queued("a", NOW - timedelta(hours=2), NOW + timedelta(hours=5)),
             queued("b", NOW - timedelta(minutes=10), NOW - timedelta(minutes=30), advisor_pb2.TASK_STATE_CLAIMED),
             queued("c", NOW - timedelta(days=3), NOW - timedelta(days=1), advisor_pb2.TASK_STATE_DONE)]
    summary = queue_summary(tasks, NOW)
    assert (summary["depth"], summary["waiting"], summary["oldest_age"]) == (2, 1, "2 h")
    assert summary["nearest_countdown"] == "overdue by 30 min"
    assert countdown(tasks[0].task.sla_deadline, NOW) == "5 h left"
    assert queue_summary([], NOW)["oldest_age"] == "" and queue_summary([], NOW)["depth"] == 0


def test_an_event_carries_every_line_of_its_data() -> None:
    assert sse("queue", "<p>\n</p>", "7") == "event: queue\nid: 7\ndata: <p>\ndata: </p>\n\n"
    assert sse("x", "") == "event: x\ndata: \n\n"


def test_every_web_app_has_its_command_and_a_port_of_its_own() -> None:
    ports = [p for s in registry.SERVICES for p in (s.grpc_port, s.metrics_port)]
    for app in registry.WEB_APPS:
        assert app.kind == "web" and app.web_port not in ports
        args = build_parser().parse_args([app.name, "--port", "18080"])
        assert args.port == 18080 and callable(args.func)
    assert "console" not in registry.NAMES  # the gRPC services' list (serve, migrate, deploy checks) is unchanged


@pytest.mark.parametrize(("environment", "cert", "host", "expected"), [
    ("production", "/tls/tls.crt", "0.0.0.0", "https"),
    ("production", "/tls/tls.crt", "127.0.0.1", "https"),
    ("production", "", "127.0.0.1", "http"),          # behind the auth proxy in its pod (deploy/k8s/base/console.yaml)
    ("production", "", "0.0.0.0", "refused"),
    ("development", "/dev/server.pem", "127.0.0.1", "http"),   # make run: no browser trusts the development CA
    ("development", "/dev/server.pem", "0.0.0.0", "https"),    # the compose stack's console
    ("development", "", "0.0.0.0", "refused"),
])
def test_the_console_listens_with_tls_except_on_loopback(environment: str, cert: str, host: str,
                                                         expected: str) -> None:
    from services.console.app import listen_tls
    from services.platform import security
    from services.platform.settings import Settings

    settings = Settings(environment=environment, tls_cert_file=cert, tls_key_file=cert.replace(".crt", ".key"))
    if expected == "refused":
        with pytest.raises(security.StartupRefused, match=f"on {host} without TLS"):
            listen_tls(settings, host)
    else:
        assert bool(listen_tls(settings, host)) == (expected == "https")
