"""The console over real HTTP in front of the real services on the real broker: an advisor signs in, sees a task
arrive on the queue's server-sent events (fed by WatchQueue), takes it, reads its case view (GetTaskContext,
audited), keeps the lease, completes it with an outcome that reaches `advisor-outcomes`; a customer sees a fraud
alert arrive live on the inbox's events (fed by Subscribe), answers "No, freeze my card", and the card is frozen.
(The same journeys in a real browser: tests/browser.)"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.platform.client import connect
from services.platform.topics import ADVISOR_OUTCOMES, ADVISOR_TASKS, TRANSACTIONS
from tests.console import console_server
from tests.integration.conftest import read_topic
from tests.stores import rows
from tests.system import whole_system
from tests.unit.advisor.builders import task
from tests.unit.fraud.builders import card_payment, usual_history

QUEUE = "financial-support"


def sse_events(client: httpx.Client, path: str, into: queue.Queue, stop: threading.Event) -> threading.Thread:
    """Read the server-sent events of `path` into `into` as (event, data) until `stop` is set."""

    def read() -> None:
        try:
            with client.stream("GET", path, headers={"accept": "text/event-stream"}, timeout=None) as response:
                event, data = "", []
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line == "" and event:
                        into.put((event, "\n".join(data)))
                        event, data = "", []
        except httpx.HTTPError:
            pass  # the test is over

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def next_event(events: queue.Queue, event: str, contains: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name, data = events.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if name == event and contains in data:
            return data
    raise AssertionError(f"no {event!r} event containing {contains!r} within {timeout} s")


@pytest.fixture
def running(settings, fraud_model_dir, monkeypatch) -> Iterator[tuple[dict, str]]:
    with whole_system(settings, fraud_model_dir) as system:
        for name, svc in system.items():  # where the advisor service reads a case's history from
            monkeypatch.setenv(f"{name.upper()}_TARGET", svc.target)
        with console_server(settings, lambda name: system[name].target) as url:
            yield system, url


def login(url: str, role: str, subject: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=True, timeout=30)
    page = client.post("/login", data={"role": role, "subject": subject, "queue": [QUEUE]})
    assert page.status_code == 200, page.text
    return client


def test_an_advisor_works_a_task_and_a_customer_answers_an_alert_through_the_console(running, settings, produce):
    system, url = running
    stop = threading.Event()

    # -- the advisor ------------------------------------------------------------------------------------------
    advisor = login(url, "advisor", "ann")
    home = advisor.get("/advisor")
    assert home.status_code == 200 and "Take next" in home.text and f'id="queue-{QUEUE}"' in home.text
    assert "Did the care work?" in home.text and "No outcome known in the last 30 days" in home.text
    queue_events: queue.Queue = queue.Queue()
    sse_events(advisor, f"/advisor/queues/{QUEUE}/events", queue_events, stop)
    next_event(queue_events, "queue", "No open task")  # the (empty) queue, as the stream opens

    raised = task("console-1", value=250_000)
    raised.reasons.add(code="REPEATED_SHORTFALL", text="Balance went below zero twice in 90 days")
    produce(ADVISOR_TASKS, raised.customer_id, raised.SerializeToString())
    live = next_event(queue_events, "queue", "console-1")  # pushed to the open page, no reload
    assert "£2,500.00" in live and 'class="depth">1<' in live and "overdue by" in live

    case = advisor.post(f"/advisor/queues/{QUEUE}/next")
    assert case.url.path == "/advisor/tasks/console-1", case.text
    assert "REPEATED_SHORTFALL" in case.text and "Balance went below zero twice in 90 days" in case.text
    assert "two shortfalls in 90 days" in case.text and "Complete task" in case.text
    assert "Not shown" not in case.text  # alerts, nudges and notifications were all read (with ann's token)
    assert "Earlier outcomes with advisors" in case.text and "What became of the warnings" in case.text
    audited = rows(system["advisor"].app.store, "SELECT actor, action, customer_id FROM audit_log"
                                                " WHERE action LIKE '%GetTaskContext'")
    assert [tuple(r) for r in audited] == [("ann", "proactivecare.v1.AdvisorQueueService/GetTaskContext", "c-1")]
    renewed = advisor.post("/advisor/tasks/console-1/renew", headers={"hx-request": "true"})
    assert renewed.status_code == 200 and "Yours until" in renewed.text

    forged = advisor.post("/advisor/tasks/console-1/complete", data={"outcome": "CONTACTED"},
                          headers={"origin": "https://evil.example"})
    assert forged.status_code == 403  # another site cannot complete a task in the advisor's name
    done = advisor.post("/advisor/tasks/console-1/complete", data={"outcome": "OFFER_ACCEPTED", "note": "agreed"})
    assert done.url.path == "/advisor" and "Task completed: OFFER_ACCEPTED." in done.text
    next_event(queue_events, "queue", "No open task")  # gone from the live queue
    (record,) = read_topic(settings, ADVISOR_OUTCOMES, expect=1)
    outcome = events_pb2.AdvisorOutcome.FromString(record.value)
    assert (outcome.task_id, outcome.outcome, outcome.advisor, outcome.source) == (
        "console-1", "OFFER_ACCEPTED", "ann", "advice")
    assert [r.code for r in outcome.reasons] == ["REPEATED_SHORTFALL"] and record.key == b"c-1"

    # -- the customer -----------------------------------------------------------------------------------------
    customer, now = "W1", time.time()
    app = login(url, "customer", customer)
    inbox = app.get("/inbox")
    assert inbox.status_code == 200 and "No messages yet" in inbox.text and "Save preferences" in inbox.text
    assert app.get("/advisor").status_code == 403  # a customer is no advisor
    inbox_events: queue.Queue = queue.Queue()
    sse_events(app, "/inbox/events?after=0", inbox_events, stop)
    for tx in usual_history(customer, now - 60):
        produce(TRANSACTIONS, customer, tx.SerializeToString())
    # over the policy's always-check amount: alerted by the rule whatever the small model scores
    produce(TRANSACTIONS, customer, card_payment("W1-big", customer, 520_000, f"T-{customer}-1", now)
            .SerializeToString())
    alert_html = next_event(inbox_events, "notification", "No, freeze my card")
    alert_id = re.search(r'action="/inbox/alerts/([^/"]+)/resolve"', alert_html).group(1)

    answered = app.post(f"/inbox/alerts/{alert_id}/resolve", data={"answer": "fraud"},
                        headers={"hx-request": "true"})
    assert answered.status_code == 200 and "your card is frozen" in answered.text
    with connect(system["fraud"].target, _token_of(app)) as channel:
        alert = fraud_pb2_grpc.FraudServiceStub(channel).GetAlert(fraud_pb2.GetAlertRequest(alert_id=alert_id),
                                                                  timeout=10).alert
    assert alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_FRAUD and alert.card_frozen
    assert "your card is frozen" in app.get("/inbox").text  # answered: the buttons are gone

    nudges = f"kind_{events_pb2.NOTIFICATION_KIND_NUDGE}"  # ticked: keep advice; care offers unticked: opted out
    saved = app.post("/inbox/preferences", data={"time_zone": "Europe/Paris", "quiet_enabled": "on",
                                                 "quiet_start": "22:30", "quiet_end": "07:00", "max_per_day": "2",
                                                 "max_per_week": "5", nudges: "on"})
    assert "Preferences saved." in saved.text and 'value="22:30"' in saved.text and "Europe/Paris" in saved.text

    # the same RPCs from a browser's own code: the Connect protocol (JSON) on the console's port, same auth
    bearer = {"authorization": f"Bearer {_token_of(app)}", "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as web:
        prefs = web.post("/proactivecare.v1.NotificationService/GetPreferences", headers=bearer,
                         json={"customerId": customer})
        assert prefs.status_code == 200 and prefs.json()["preferences"]["timeZone"] == "Europe/Paris"
        theirs = web.post("/proactivecare.v1.FraudService/ListAlerts", headers=bearer, json={"customerId": "other"})
        assert theirs.status_code == 403 and theirs.json()["code"] == "permission_denied"
        bad = web.post("/proactivecare.v1.FraudService/GetAlert", headers=bearer, json={"alertId": 7, "x": 1})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_argument"
        anonymous = web.post("/proactivecare.v1.FraudService/ListAlerts", json={"customerId": customer})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    stop.set()
    advisor.close()
    app.close()


def _token_of(client: httpx.Client) -> str:
    return client.cookies["pc_console_token"]


def test_the_development_sign_in_is_refused_outside_development_mode(settings):
    from starlette.testclient import TestClient

    from services.console.app import create_app

    production = settings.with_overrides(environment="production")
    with TestClient(create_app(production, lambda name: "127.0.0.1:1")) as client:
        page = client.get("/login")
        assert page.status_code == 403 and "X-Forwarded-Access-Token" in page.text
        refused = client.post("/login", data={"role": "advisor", "subject": "mallory"}, follow_redirects=False)
        assert refused.status_code == 403 and "pc_console_token" not in refused.headers.get("set-cookie", "")
        assert client.get("/advisor", follow_redirects=False).headers["location"] == "/login"
