"""The console: the advisors' queues and case view, and the customer's inbox page (a demo of the bank app).

A Starlette app rendering Jinja2 templates on the server; htmx (vendored in static/) adds partial updates and
server-sent events. It is a backend-for-frontend: every page is made from gRPC calls to the services with the
signed-in user's own token (services/console/identity.py, backend.py). `create_app(settings)` builds it;
`serve(settings, port)` runs it under uvicorn (`proactive-care console`, started by `make run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from services.advisor.context import target_of
from services.advisor.policy import policy_at
from services.console.backend import Backend
from services.console.connect import routes as connect_routes
from services.console.identity import COOKIE, DEV_ADVISOR_QUEUES, DEV_TOKEN_SECONDS, Identities, User
from services.gen.proactivecare.v1 import (
    advice_pb2,
    advisor_pb2,
    common_pb2,
    events_pb2,
    fraud_pb2,
    notify_pb2,
)
from services.platform import security
from services.platform.clock import utc_now
from services.platform.money import format_money
from services.platform.settings import Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
LEASE_SECONDS = 300  # a claim's lease; the case page renews it every RENEW_SECONDS while it is open
RENEW_SECONDS = 60
SNOOZE_CHOICES = ((3600, "1 hour"), (4 * 3600, "4 hours"), (86400, "1 day"))
INBOX_PAGE = 20
KEEPALIVE_SECONDS = 15.0
DEV_CUSTOMERS = ("cust_000000", "cust_000001", "cust_000002")

_STATE_NAMES = {advisor_pb2.TASK_STATE_QUEUED: "queued", advisor_pb2.TASK_STATE_CLAIMED: "claimed",
                advisor_pb2.TASK_STATE_SNOOZED: "snoozed", advisor_pb2.TASK_STATE_DONE: "done"}
_KIND_NAMES = {events_pb2.NOTIFICATION_KIND_FRAUD_ALERT: "Fraud alert", events_pb2.NOTIFICATION_KIND_SECURITY:
               "Security", events_pb2.NOTIFICATION_KIND_NUDGE: "Advice", events_pb2.NOTIFICATION_KIND_CARE_OFFER:
               "Care offer"}
# what became of a warning, in an advisor's words (kind, outcome)
_FOLLOW_UP_WORDS = {
    ("shortfall_warning", events_pb2.FOLLOW_UP_OUTCOME_AVOIDED): "Shortfall warning: the overdraft was avoided",
    ("shortfall_warning", events_pb2.FOLLOW_UP_OUTCOME_HAPPENED): "Shortfall warning: went overdrawn anyway",
    ("care_offer", events_pb2.FOLLOW_UP_OUTCOME_AVOIDED): "Care offer: the mortgage payment was made",
    ("care_offer", events_pb2.FOLLOW_UP_OUTCOME_HAPPENED): "Care offer: the mortgage payment was missed",
    ("fraud_alert", events_pb2.FOLLOW_UP_OUTCOME_AVOIDED): "Fraud alert: no further fraud on the card",
    ("fraud_alert", events_pb2.FOLLOW_UP_OUTCOME_HAPPENED): "Fraud alert: further fraud on the card",
    ("fraud_alert", events_pb2.FOLLOW_UP_OUTCOME_NOT_APPLICABLE): "Fraud alert: the customer confirmed the payment",
}
OPTIONAL_KINDS = (events_pb2.NOTIFICATION_KIND_NUDGE, events_pb2.NOTIFICATION_KIND_CARE_OFFER)
_HTTP = {grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
         grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 409,
         grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.RESOURCE_EXHAUSTED: 429}


# ---- rendering helpers (pure) -------------------------------------------------------------------------------

def when(ts: Timestamp) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def iso(ts: Timestamp) -> str:
    at = when(ts)
    return at.isoformat(timespec="seconds") if at else ""


def money(m: common_pb2.Money) -> str:
    return format_money(m.amount_minor, m.currency or "GBP")


def duration_text(seconds: float) -> str:
    """`duration_text(3900)` -> "1 h 5 min": how an advisor reads an age or a countdown."""
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def countdown(deadline: Timestamp, now: datetime) -> str:
    at = when(deadline)
    if at is None:
        return ""
    left = (at - now).total_seconds()
    return f"{duration_text(left)} left" if left >= 0 else f"overdue by {duration_text(left)}"


def queue_summary(tasks: list[advisor_pb2.QueuedTask], now: datetime) -> dict[str, Any]:
    """Depth, the oldest open task's age and the nearest SLA deadline of a queue's open tasks."""
    open_tasks = [t for t in tasks if t.state != advisor_pb2.TASK_STATE_DONE]
    created = [when(t.task.created_at) for t in open_tasks if when(t.task.created_at)]
    deadlines = [t for t in open_tasks if when(t.task.sla_deadline)]
    nearest = min(deadlines, key=lambda t: t.task.sla_deadline.ToDatetime(), default=None)
    return {
        "depth": len(open_tasks),
        "waiting": sum(1 for t in open_tasks if t.state == advisor_pb2.TASK_STATE_QUEUED),
        "oldest_age": duration_text((now - min(created)).total_seconds()) if created else "",
        "oldest_since": min(created).isoformat(timespec="seconds") if created else "",
        "nearest_deadline": iso(nearest.task.sla_deadline) if nearest else "",
        "nearest_countdown": countdown(nearest.task.sla_deadline, now) if nearest else "",
    }


def sse(event: str, data: str, event_id: str = "") -> str:
    """One server-sent event; every line of `data` is its own `data:` line."""
    lines = [f"event: {event}"] + ([f"id: {event_id}"] if event_id else [])
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


class ConsoleError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _grpc_error(exc: grpc.aio.AioRpcError) -> ConsoleError:
    status = _HTTP.get(exc.code(), 503)
    detail = exc.details() or exc.code().name.lower()
    if status == 503:
        detail = f"the service is unavailable right now ({exc.code().name.lower()}); try again"
    return ConsoleError(status, detail)


# ---- the app --------------------------------------------------------------------------------------------------

class Console:
    def __init__(self, settings: Settings, targets: Callable[[str], str] = target_of) -> None:
        self.settings = settings
        self.identities = Identities(settings)
        self.backend = Backend(settings, targets)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(money=money, iso=iso, countdown=countdown, state_names=_STATE_NAMES,
                                          kind_names=_KIND_NAMES, follow_up_words=_FOLLOW_UP_WORDS,
                                          development=settings.development)

    # -- plumbing ------------------------------------------------------------------------------------------

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def page(self, role: str | None, handler: Callable[[Request, User], Awaitable[Response]],
             ) -> Callable[[Request], Awaitable[Response]]:
        """A route for a signed-in user (of `role`: "advisor" or "customer"): sign-in, same-origin forms, and
        the services' refusals shown in plain words."""

        async def endpoint(request: Request) -> Response:
            user = self.identities.user(request)
            if user is None:
                if request.headers.get("accept", "").startswith("text/event-stream"):
                    return PlainTextResponse("sign in again", status_code=401)
                return RedirectResponse("/login", status_code=303)
            if (role == "advisor" and not user.is_advisor) or (role == "customer" and user.role != "customer"):
                return self.render(request, "error.html", 403, user=user,
                                   message=f"This page is for {role}s; you are signed in as a {user.role}.")
            if request.method == "POST" and not self._same_origin(request):
                return PlainTextResponse("cross-site form refused", status_code=403)
            try:
                return await handler(request, user)
            except grpc.aio.AioRpcError as exc:
                failure = _grpc_error(exc)
            except ConsoleError as exc:
                failure = exc
            if failure.status == 401:
                return RedirectResponse("/login", status_code=303)
            if request.headers.get("hx-request"):
                return HTMLResponse(f'<p class="error" role="alert">{html.escape(failure.message)}</p>',
                                    status_code=failure.status)
            return self.render(request, "error.html", failure.status, user=user, message=failure.message)

        return endpoint

    @staticmethod
    def _same_origin(request: Request) -> bool:
        """A form post from this console's own pages (browsers send Origin on every POST; the cookie is also
        SameSite=Strict): another site cannot make a signed-in advisor complete a task."""
        origin = request.headers.get("origin")
        return origin is None or urlparse(origin).netloc == request.url.netloc

    # -- sign-in -------------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        user = self.identities.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/advisor" if user.is_advisor else "/inbox", status_code=303)

    async def login_page(self, request: Request) -> Response:
        if not self.settings.development:
            return self.render(request, "error.html", 403, user=None, message=(
                "Sign-in happens at the bank's identity provider: this console expects its access token from "
                "the auth proxy in front (X-Forwarded-Access-Token). The development login is off outside "
                "development mode."))
        return self.render(request, "login.html", user=None, customers=DEV_CUSTOMERS, queues=DEV_ADVISOR_QUEUES)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        role, subject = str(form.get("role", "")), str(form.get("subject", "")).strip()
        if not self._same_origin(request):
            return PlainTextResponse("cross-site form refused", status_code=403)
        if role not in ("advisor", "customer") or not subject or len(subject) > 128:
            return self.render(request, "login.html", 400, user=None, customers=DEV_CUSTOMERS,
                               queues=DEV_ADVISOR_QUEUES, message="Choose advisor or customer and give a name.")
        queues = tuple(q for q in DEV_ADVISOR_QUEUES if q in form.getlist("queue")) or DEV_ADVISOR_QUEUES
        try:
            token = self.identities.dev_token(subject, role, queues if role == "advisor" else ())
        except security.StartupRefused as exc:
            return self.render(request, "error.html", 403, user=None, message=str(exc))
        response = RedirectResponse("/advisor" if role == "advisor" else "/inbox", status_code=303)
        response.set_cookie(COOKIE, token, max_age=DEV_TOKEN_SECONDS, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- advisor ---------------------------------------------------------------------------------------------

    async def _queue_tasks(self, user: User, queue: str) -> list[advisor_pb2.QueuedTask]:
        got = await self.backend.advisor().ListQueue(advisor_pb2.ListQueueRequest(queue=queue),
                                                     **self.backend.as_user(user.token))
        return list(got.tasks)

    async def advisor_home(self, request: Request, user: User) -> Response:
        now = utc_now()
        queues = []
        for queue in user.queues:
            tasks = await self._queue_tasks(user, queue)
            queues.append({"name": queue, "tasks": tasks, "summary": queue_summary(tasks, now)})
        return self.render(request, "advisor.html", user=user, queues=queues, now=now,
                           notice=request.query_params.get("notice", ""), effect=await self._care_effect(user))

    async def _care_effect(self, user: User) -> advisor_pb2.GetCareEffectResponse | None:
        """Did the care work? The last 30 days' figures; None (the page says so) when they cannot be read."""
        try:
            return await self.backend.advisor().GetCareEffect(advisor_pb2.GetCareEffectRequest(),
                                                              **self.backend.as_user(user.token))
        except grpc.aio.AioRpcError:
            return None

    def _queue_fragment(self, queue: str, tasks: list[advisor_pb2.QueuedTask]) -> str:
        now = utc_now()
        return self.templates.get_template("queue.html").render(
            queue={"name": queue, "tasks": tasks, "summary": queue_summary(tasks, now)}, now=now)

    async def queue_events(self, request: Request, user: User) -> Response:
        """The queue as server-sent events: the whole queue fragment again after each burst of changes from
        `WatchQueue` (and a comment line every 15 s, so proxies keep the connection)."""
        queue = request.path_params["queue"]
        if queue not in user.queues:
            raise ConsoleError(403, f"queue {queue} is not one of yours")
        call = self.backend.advisor().WatchQueue(advisor_pb2.WatchQueueRequest(queue=queue),
                                                 metadata=self.backend.as_user(user.token)["metadata"])

        async def events() -> AsyncIterator[str]:
            tasks: dict[str, advisor_pb2.QueuedTask] = {}
            reader = aiter(call)
            pending: asyncio.Task[Any] | None = None
            try:
                dirty = True
                while True:
                    pending = pending or asyncio.ensure_future(anext(reader))
                    done, _ = await asyncio.wait({pending}, timeout=0.2 if dirty else KEEPALIVE_SECONDS)
                    if not done:
                        if dirty:
                            ordered = sorted(tasks.values(), key=lambda t: (-t.priority, t.task.sla_deadline.seconds))
                            yield sse("queue", self._queue_fragment(queue, ordered))
                            dirty = False
                        else:
                            yield ": keep-alive\n\n"
                        continue
                    finished, pending = pending, None
                    try:
                        item = finished.result()
                    except StopAsyncIteration:
                        return
                    except grpc.aio.AioRpcError as exc:
                        yield sse("queue-error", html.escape(_grpc_error(exc).message))
                        return
                    if item.task.state == advisor_pb2.TASK_STATE_DONE:
                        tasks.pop(item.task.task.id, None)
                    else:
                        tasks[item.task.task.id] = item.task
                    dirty = True
            finally:
                if pending is not None:
                    pending.cancel()
                call.cancel()

        return event_stream(events())

    async def take_next(self, request: Request, user: User) -> Response:
        queue = request.path_params["queue"]
        got = await self.backend.advisor().ClaimNext(
            advisor_pb2.ClaimNextRequest(queue=queue, lease_seconds=LEASE_SECONDS), **self.backend.as_user(user.token))
        if got.empty:
            return RedirectResponse("/advisor?" + urlencode({"notice": f"No open task in {queue}."}), 303)
        return RedirectResponse(f"/advisor/tasks/{got.task.task.id}", status_code=303)

    async def case(self, request: Request, user: User) -> Response:
        task_id = request.path_params["task_id"]
        context = await self.backend.advisor().GetTaskContext(advisor_pb2.GetTaskContextRequest(task_id=task_id),
                                                              **self.backend.as_user(user.token))
        holding = (context.task.state == advisor_pb2.TASK_STATE_CLAIMED and context.task.claimed_by == user.subject)
        return self.render(request, "case.html", user=user, ctx=context, task=context.task, holding=holding,
                           outcomes=sorted(policy_at(utc_now()).outcomes), snoozes=SNOOZE_CHOICES,
                           renew_seconds=RENEW_SECONDS, now=utc_now())

    async def renew(self, request: Request, user: User) -> Response:
        got = await self.backend.advisor().RenewLease(
            advisor_pb2.RenewLeaseRequest(task_id=request.path_params["task_id"], lease_seconds=LEASE_SECONDS),
            **self.backend.as_user(user.token))
        at = when(got.task.lease_expires_at)
        return HTMLResponse(f'Yours until <time datetime="{iso(got.task.lease_expires_at)}">'
                            f'{at.strftime("%H:%M:%S") if at else ""} UTC</time> (renewed while this page is open)')

    async def complete(self, request: Request, user: User) -> Response:
        form = await request.form()
        task_id = request.path_params["task_id"]
        await self.backend.advisor().Complete(
            advisor_pb2.CompleteRequest(task_id=task_id, outcome=str(form.get("outcome", "")),
                                        note=str(form.get("note", "")), option_code=str(form.get("option_code", ""))),
            **self.backend.as_user(user.token))
        return RedirectResponse("/advisor?" + urlencode({"notice": f"Task completed: {form.get('outcome')}."}), 303)

    async def snooze(self, request: Request, user: User) -> Response:
        form = await request.form()
        try:
            seconds = int(str(form.get("seconds", "0")))
        except ValueError:
            raise ConsoleError(400, "snooze: choose how long") from None
        await self.backend.advisor().Snooze(
            advisor_pb2.SnoozeRequest(task_id=request.path_params["task_id"], snooze_seconds=seconds),
            **self.backend.as_user(user.token))
        return RedirectResponse("/advisor?" + urlencode({"notice": "Task snoozed."}), 303)

    async def release(self, request: Request, user: User) -> Response:
        await self.backend.advisor().Release(advisor_pb2.ReleaseRequest(task_id=request.path_params["task_id"]),
                                             **self.backend.as_user(user.token))
        return RedirectResponse("/advisor?" + urlencode({"notice": "Task released to the queue."}), 303)

    # -- customer ----------------------------------------------------------------------------------------------

    async def inbox(self, request: Request, user: User) -> Response:
        call = self.backend.as_user(user.token)
        listed = await self.backend.notify().ListNotifications(
            notify_pb2.ListNotificationsRequest(customer_id=user.subject,
                                                page=common_pb2.PageRequest(page_size=INBOX_PAGE)), **call)
        prefs = await self.backend.notify().GetPreferences(notify_pb2.GetPreferencesRequest(customer_id=user.subject),
                                                           **call)
        notes = list(listed.notifications)
        answers = await self._answers(user, notes)
        last = max((n.sequence for n in notes), default=0)
        return self.render(request, "inbox.html", user=user, notifications=notes, answers=answers, after=last,
                           prefs=prefs.preferences, optional_kinds=OPTIONAL_KINDS,
                           notice=request.query_params.get("notice", ""))

    async def _answers(self, user: User, notes: list[notify_pb2.DeliveredNotification]) -> dict[str, str]:
        """What the customer already answered to the alerts among `notes` (so answered ones show no buttons)."""
        if not any(n.notification.source == "fraud" for n in notes):
            return {}
        alerts = await self.backend.fraud().ListAlerts(
            fraud_pb2.ListAlertsRequest(customer_id=user.subject, page=common_pb2.PageRequest(page_size=100)),
            **self.backend.as_user(user.token))
        return {a.id: _answer_text(a) for a in alerts.alerts if a.status != fraud_pb2.ALERT_STATUS_OPEN}

    def _notification_fragment(self, delivered: notify_pb2.DeliveredNotification, answers: dict[str, str]) -> str:
        return self.templates.get_template("notification.html").render(n=delivered, answers=answers)

    async def inbox_events(self, request: Request, user: User) -> Response:
        """The customer's notifications as server-sent events from `Subscribe`, in sequence order; a reconnecting
        browser resumes after the `Last-Event-ID` it saw (no gap, no duplicate)."""
        try:
            after = int(request.headers.get("last-event-id") or request.query_params.get("after", "0"))
        except ValueError:
            raise ConsoleError(400, "after: must be a sequence number") from None
        call = self.backend.notify().Subscribe(
            notify_pb2.SubscribeRequest(customer_id=user.subject, after_sequence=max(after, 0)),
            metadata=self.backend.as_user(user.token)["metadata"])

        async def events() -> AsyncIterator[str]:
            reader = aiter(call)
            pending: asyncio.Task[Any] | None = None
            try:
                while True:
                    pending = pending or asyncio.ensure_future(anext(reader))
                    done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                    if not done:
                        yield ": keep-alive\n\n"
                        continue
                    finished, pending = pending, None
                    try:
                        item = finished.result()
                    except (StopAsyncIteration, grpc.aio.AioRpcError):
                        return
                    yield sse("notification", self._notification_fragment(item.delivered, {}),
                              str(item.delivered.sequence))
            finally:
                if pending is not None:
                    pending.cancel()
                call.cancel()

        return event_stream(events())

    async def resolve_alert(self, request: Request, user: User) -> Response:
        form = await request.form()
        answer = str(form.get("answer", ""))
        if answer not in ("genuine", "fraud"):
            raise ConsoleError(400, "answer: choose \"Yes, it was me\" or \"No, freeze my card\"")
        got = await self.backend.fraud().ResolveAlert(
            fraud_pb2.ResolveAlertRequest(alert_id=request.path_params["alert_id"], confirmed_fraud=answer == "fraud"),
            **self.backend.as_user(user.token))
        text = _answer_text(got.alert)
        if request.headers.get("hx-request"):
            return HTMLResponse(f'<p class="answer" role="status">{html.escape(text)}</p>')
        return RedirectResponse("/inbox?" + urlencode({"notice": text}), 303)

    async def respond_nudge(self, request: Request, user: User) -> Response:
        form = await request.form()
        answers = {"helpful": advice_pb2.NUDGE_RESPONSE_HELPFUL, "not_helpful": advice_pb2.NUDGE_RESPONSE_NOT_HELPFUL}
        answer = str(form.get("answer", ""))
        if answer not in answers:
            raise ConsoleError(400, "answer: choose helpful or not helpful")
        await self.backend.advice().RespondToNudge(
            advice_pb2.RespondToNudgeRequest(nudge_id=request.path_params["nudge_id"], response=answers[answer]),
            **self.backend.as_user(user.token))
        text = f"Thanks: we will send {'more' if answer == 'helpful' else 'fewer'} like this."
        if request.headers.get("hx-request"):
            return HTMLResponse(f'<p class="answer" role="status">{text}</p>')
        return RedirectResponse("/inbox?" + urlencode({"notice": text}), 303)

    async def preferences(self, request: Request, user: User) -> Response:
        form = await request.form()
        try:
            start, end = (_minutes(str(form.get(k, "00:00"))) for k in ("quiet_start", "quiet_end"))
            per_day, per_week = int(str(form.get("max_per_day", "0"))), int(str(form.get("max_per_week", "0")))
        except ValueError:
            raise ConsoleError(400, "preferences: times as HH:MM, caps as whole numbers") from None
        opted_out = [k for k in OPTIONAL_KINDS if f"kind_{k}" not in form]  # a ticked box = "send me these"
        prefs = notify_pb2.Preferences(
            customer_id=user.subject, time_zone=str(form.get("time_zone", "Europe/London")),
            quiet_hours=notify_pb2.QuietHours(enabled=form.get("quiet_enabled") == "on", start_minute=start,
                                              end_minute=end),
            opted_out_kinds=opted_out, max_nudges_per_day=per_day, max_nudges_per_week=per_week)
        await self.backend.notify().UpdatePreferences(notify_pb2.UpdatePreferencesRequest(preferences=prefs),
                                                      **self.backend.as_user(user.token))
        return RedirectResponse("/inbox?" + urlencode({"notice": "Preferences saved."}), 303)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value < 1440:
        raise ValueError(hhmm)
    return value


def _answer_text(alert: fraud_pb2.Alert) -> str:
    if alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_FRAUD:
        return "You told us it was not you: your card is frozen." if alert.card_frozen else \
            "You told us it was not you."
    if alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_GENUINE:
        return "You told us it was you: thank you."
    return ""


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: Settings, targets: Callable[[str], str] = target_of) -> Starlette:
    console = Console(security.resolve(settings), targets)
    page = console.page
    routes = [
        Route("/", console.home),
        Route("/healthz", _health),
        Route("/login", console.login_page, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/advisor", page("advisor", console.advisor_home)),
        Route("/advisor/queues/{queue}/events", page("advisor", console.queue_events)),
        Route("/advisor/queues/{queue}/next", page("advisor", console.take_next), methods=["POST"]),
        Route("/advisor/tasks/{task_id}", page("advisor", console.case)),
        Route("/advisor/tasks/{task_id}/renew", page("advisor", console.renew), methods=["POST"]),
        Route("/advisor/tasks/{task_id}/complete", page("advisor", console.complete), methods=["POST"]),
        Route("/advisor/tasks/{task_id}/snooze", page("advisor", console.snooze), methods=["POST"]),
        Route("/advisor/tasks/{task_id}/release", page("advisor", console.release), methods=["POST"]),
        Route("/inbox", page("customer", console.inbox)),
        Route("/inbox/events", page("customer", console.inbox_events)),
        Route("/inbox/alerts/{alert_id}/resolve", page("customer", console.resolve_alert), methods=["POST"]),
        Route("/inbox/nudges/{nudge_id}/respond", page("customer", console.respond_nudge), methods=["POST"]),
        Route("/inbox/preferences", page("customer", console.preferences), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        *connect_routes(console.backend),  # the customer-facing RPCs for browsers (Connect, gRPC-Web)
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await console.backend.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    return app


def listen_tls(settings: Settings, host: str) -> dict[str, str]:
    """uvicorn's TLS settings for listening on `host`: HTTPS with the service certificate when one is configured,
    plain HTTP only on a loopback address (behind the auth proxy, or in development mode, whose CA no browser
    trusts: a development console on another address, e.g. in the compose stack, serves HTTPS with the development
    certificate). Refuses (StartupRefused) plain HTTP on any other address."""
    if settings.tls_cert_file and (not settings.development or not security.is_loopback(host)):
        return {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
    if not security.is_loopback(host):
        raise security.StartupRefused(f"refusing to serve the console on {host} without TLS; set TLS_CERT_FILE "
                                      "and TLS_KEY_FILE (or listen on 127.0.0.1 behind the auth proxy)")
    return {}


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the console under uvicorn until SIGTERM/SIGINT (`listen_tls` says how). Its own calls to the services
    are TLS either way."""
    import uvicorn

    tls = listen_tls(settings, host)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True, **tls)


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events, not cached nor buffered by a proxy on the way."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
