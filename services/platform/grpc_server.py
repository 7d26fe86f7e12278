"""The gRPC bootstrap: the only server set-up in the project.

`grpc.aio` server (TLS or mutual TLS, limits on concurrent calls, message sizes, keepalive and connection age)
+ the official health service (per-service status, NOT_SERVING on shutdown) + server reflection (can be switched
off) + one guard, wrapped around each method of the app's services as they are registered, that on every call:
verifies the bearer token (its signature, issuer, this service's audience, lifetime), the caller's role for the
method and, for service callers, the method's scope; caps the open streams of one caller per method and ends a
stream when its token expires; records go-grpc-prometheus metrics; maps domain errors to status codes (never a
stack trace).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.gen.proactivecare.v1 import audit_pb2_grpc
from services.platform import auth, logs, reflection, tracing
from services.platform.audit import AUDITED_ROLES, AuditServicer, AuditTrail
from services.platform.audit import SERVICE_NAME as AUDIT_SERVICE_NAME
from services.platform.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ValidationError,
    is_transient,
)
from services.platform.metrics import GrpcMetrics
from services.platform.pan import may_hold_pan, redact_message
from services.platform.settings import Settings

log = logging.getLogger(__name__)

# grpc_code as go-grpc-prometheus (and every dashboard built on it) spells it: "InvalidArgument", "Canceled".
GO_CODE_NAMES: dict[grpc.StatusCode, str] = {
    c: "OK" if c is grpc.StatusCode.OK else "Canceled" if c is grpc.StatusCode.CANCELLED
    else "".join(w.capitalize() for w in c.name.split("_"))
    for c in grpc.StatusCode
}

OPEN_SERVICES = frozenset({health.SERVICE_NAME, *reflection.NAMES})


@dataclass(frozen=True)
class GrpcService:
    """One gRPC service of an app: its servicer and who may call each method."""

    name: str  # full name, e.g. "proactivecare.v1.FraudService"
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    # method name -> roles allowed to call it; a method not listed is open to no one
    access: Mapping[str, frozenset[auth.Role]] = field(default_factory=dict)


_ERROR_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


def _redacting(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The request deserializer, masking card numbers in every free-text field of the request before any
    handler sees it (a cheap look at the raw bytes first: most requests hold no 13-digit run)."""
    if deserialize is None:
        return None

    def redacted(data: bytes) -> Any:
        message = deserialize(data)
        if may_hold_pan(data) and isinstance(message, Message):
            redact_message(message)
        return message

    return redacted


def outcome_of(exc: BaseException) -> str:
    """The status code name a failure maps to (for the audit trail)."""
    if isinstance(exc, auth.AuthError):
        return grpc.StatusCode.UNAUTHENTICATED.name
    return next((code.name for kind, code in _ERROR_CODES if isinstance(exc, kind)), "ERROR")


def scope_of(app: str, method: str) -> str:
    """The scope a `service` caller's token needs for one RPC, e.g. `fraud:ScoreTransaction`."""
    return f"{app}:{method}"


class StreamSlots:
    """At most `limit` open server streams per (method, caller)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[tuple[str, str]] = Counter()

    def take(self, method: str, subject: str) -> tuple[str, str]:
        key = (method, subject)
        if self.open[key] >= self.limit:
            raise ResourceExhaustedError(f"at most {self.limit} open {method} streams per caller")
        self.open[key] += 1
        return key

    def give_back(self, key: tuple[str, str]) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


class _CallGuard:
    """Authentication, authorization, metrics and error mapping for one method."""

    def __init__(self, verifier: auth.TokenVerifier, metrics: GrpcMetrics, service: str, method: str,
                 grpc_type: str, roles: frozenset[auth.Role], scope: str, trail: AuditTrail | None = None) -> None:
        self.verifier = verifier
        self.trail = trail
        self.metrics = metrics
        self.labels = (grpc_type, service, method)
        self.roles = roles
        self.scope = scope
        # each method's series, looked up once (a labels() lookup a call costs a few us)
        self.started = metrics.started.labels(*self.labels)
        self.seconds = metrics.handling_seconds.labels(*self.labels)
        self._handled = {"OK": metrics.handled.labels(*self.labels, "OK")}

    async def authenticate(self, context: grpc.aio.ServicerContext) -> auth.Principal:
        metadata = dict(context.invocation_metadata() or ())
        # the call's own task and context: every log line of the call carries its request id
        logs.request_id.set(str(metadata.get("x-request-id", ""))[:64] or uuid.uuid4().hex[:16])
        if tracing.enabled():  # a server span, the child of the caller's `traceparent` metadata if any
            span = tracing.start(f"{self.labels[1]}/{self.labels[2]}", SpanKind.SERVER,
                                 tracing.context_from(metadata.items()),
                                 attributes={"rpc.system": "grpc", "rpc.service": self.labels[1],
                                             "rpc.method": self.labels[2]})
            otel_context.attach(trace.set_span_in_context(span))
        header = metadata.get("authorization", "")
        if not isinstance(header, str) or not header.lower().startswith("bearer "):
            raise auth.AuthError("missing bearer token")
        principal = await self.verifier.verify_async(header[7:].strip())  # off the loop unless remembered
        if principal.role not in self.roles:
            raise PermissionDeniedError(f"role {principal.role} may not call {self.labels[2]}")
        if principal.role == auth.Role.SERVICE and self.scope not in principal.scopes:
            raise PermissionDeniedError(f"the token lacks scope {self.scope}")
        return principal

    async def audit(self, context: grpc.aio.ServicerContext, principal: auth.Principal, request: Any,
                    response: Any, outcome: str) -> None:
        """Staff and auditor calls leave an entry in the audit trail before the answer leaves (a trail that cannot
        be written fails the call)."""
        if self.trail is None or principal.role not in AUDITED_ROLES:
            return
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        entry = self.trail.entry(principal, f"{self.labels[1]}/{self.labels[2]}", request, response, metadata,
                                 outcome)
        await self.trail.store.call(lambda: self.trail.write(entry))  # type: ignore[union-attr]

    async def fail(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, auth.AuthError):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if isinstance(exc, ValidationError):  # the readable message, and the field in machine-readable details
            await context.abort_with_status(rpc_status.to_status(bad_request(exc)))
        for kind, code in _ERROR_CODES:
            if isinstance(exc, kind):
                await context.abort(code, str(exc))
        ref = logs.request_id.get() or uuid.uuid4().hex[:16]
        if is_transient(exc):  # a store or broker busy or away: the caller may retry, nothing was half-done
            log.warning("transient failure in %s/%s (ref %s): %s", self.labels[1], self.labels[2], ref,
                        type(exc).__name__)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"temporarily unavailable, retry (ref {ref})")
        log.exception("internal error in %s/%s (ref %s)", self.labels[1], self.labels[2], ref)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {ref})")

    def done(self, context: grpc.aio.ServicerContext, started: float) -> None:
        code = context.code() or grpc.StatusCode.OK
        name = GO_CODE_NAMES.get(code, str(code))
        handled = self._handled.get(name)
        if handled is None:
            handled = self._handled[name] = self.metrics.handled.labels(*self.labels, name)
        handled.inc()
        if tracing.enabled() and (span := trace.get_current_span()).is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0] if isinstance(code, grpc.StatusCode) else -1)
            span.end()
        self.seconds.observe(time.perf_counter() - started)


def bad_request(exc: ValidationError) -> status_pb2.Status:
    """INVALID_ARGUMENT with the readable "field: message" text and a google.rpc.BadRequest naming the field
    (`reason` = the validator's code, upper-cased as google.rpc asks), so a client library can point at it."""
    violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.message,
                                                            reason=exc.reason.upper())
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(exc), details=[detail])


def _guard_unary(guard: _CallGuard, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        guard.started.inc()
        try:
            principal = await guard.authenticate(context)
            token = auth.set_principal(principal)
            try:
                response = await inner(request, context)
            except Exception as exc:
                await guard.audit(context, principal, request, None, outcome_of(exc))
                raise
            finally:
                auth.reset_principal(token)
            await guard.audit(context, principal, request, response, "OK")
            return response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await guard.fail(context, exc)
        finally:
            guard.done(context, started)

    return behavior


def _guard_stream(guard: _CallGuard, inner: Callable[..., AsyncIterator[Any]], slots: StreamSlots,
                  ) -> Callable[..., AsyncIterator[Any]]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        guard.started.inc()
        slot: tuple[str, str] | None = None
        try:
            # Each RPC runs in its own task and context, so the principal dies with the call. (No reset here:
            # a stream the client cancels is closed from another context, where a reset token is invalid.)
            principal = await guard.authenticate(context)
            auth.set_principal(principal)
            slot = slots.take(guard.labels[2], f"{principal.role}:{principal.subject}")
            await guard.audit(context, principal, request, None, "STREAM_OPENED")
            items = aiter(inner(request, context))
            while True:  # the stream ends when its token does: waiting for the next item is bounded by it
                remaining = principal.expires_at - time.time()
                if remaining <= 0:
                    raise auth.AuthError("token expired")
                try:
                    item = await asyncio.wait_for(anext(items), timeout=min(remaining, 86_400.0))
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise auth.AuthError("token expired") from None
                guard.metrics.msg_sent.labels(*guard.labels).inc()
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await guard.fail(context, exc)
        finally:
            if slot is not None:
                slots.give_back(slot)
            guard.done(context, started)

    return behavior


class Guard:
    """Wraps each method of the app's services with its `_CallGuard` once, as the generated
    `add_<Service>Servicer_to_server` registers it (`guarding(server)` stands in for the server there): the server
    then calls the guarded handlers directly. (An aio `ServerInterceptor` ran a coroutine for every call: 55-125 us
    of server CPU a call on this machine, measured against a bare server.) Health and reflection are registered
    on the server itself: open to all, unguarded."""

    def __init__(self, verifier: auth.TokenVerifier, metrics: GrpcMetrics, services: Sequence[GrpcService],
                 app: str, streams_per_caller: int, trail: AuditTrail | None = None) -> None:
        self.verifier = verifier
        self.trail = trail
        self.metrics = metrics
        self.app = app
        self.access = {s.name: s.access for s in services}
        self.slots = StreamSlots(streams_per_caller)
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def guarding(self, server: grpc.aio.Server) -> _GuardedRegistration:
        return _GuardedRegistration(server, self)

    def wrap(self, method_path: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The guarded handler of one method (made once; the same object for both registrations of a method)."""
        if method_path in self._wrapped:
            return self._wrapped[method_path]
        service, _, method = method_path.lstrip("/").partition("/")
        roles = self.access.get(service, {}).get(method, frozenset())
        scope = scope_of(self.app, method)
        if handler.unary_unary is not None:
            guard = _CallGuard(self.verifier, self.metrics, service, method, "unary", roles, scope, self.trail)
            wrapped = grpc.unary_unary_rpc_method_handler(
                _guard_unary(guard, handler.unary_unary),
                request_deserializer=_redacting(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        elif handler.unary_stream is not None:
            guard = _CallGuard(self.verifier, self.metrics, service, method, "server_stream", roles, scope,
                               self.trail)
            wrapped = grpc.unary_stream_rpc_method_handler(
                _guard_stream(guard, handler.unary_stream, self.slots),
                request_deserializer=_redacting(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        else:  # client/bidi streaming is not used by this project: refuse rather than serve unguarded
            raise NotImplementedError(f"unsupported RPC type for {method_path}")
        self._wrapped[method_path] = wrapped
        return wrapped


class _GuardedRegistration:
    """What a generated `add_<Service>Servicer_to_server` calls on a server, each handler guarded on the way."""

    def __init__(self, server: grpc.aio.Server, guard: Guard) -> None:
        self._server = server
        self._guard = guard

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_GuardedGeneric(h, self._guard) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self._server.add_registered_method_handlers(
            service, {method: self._guard.wrap(f"/{service}/{method}", h) for method, h in handlers.items()})


class _GuardedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        return None if handler is None else self._guard.wrap(handler_call_details.method, handler)


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    service_names: tuple[str, ...]
    health_server: grpc.aio.Server | None = None  # plaintext, health only (HEALTH_PORT)
    health_port: int = 0

    async def set_serving(self, name: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set(name, status)

    async def shutdown(self, grace_seconds: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
        if self.health_server is not None:
            await self.health_server.stop(0)


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments that bound what one client can make the server hold."""
    return [("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
            ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
            ("grpc.keepalive_time_ms", settings.grpc_keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_connection_age_ms", settings.grpc_max_connection_age_ms),
            ("grpc.max_connection_age_grace_ms", 30_000)]


async def start_grpc_server(services: Sequence[GrpcService], *, app: str, settings: Settings,
                            verifier: auth.TokenVerifier, metrics: GrpcMetrics,
                            credentials: grpc.ServerCredentials | None, trail: AuditTrail | None = None,
                            ) -> GrpcServer:
    """Bind (port 0 = any free port; TLS when `credentials`), register health and (unless switched off)
    reflection, start. Everything SERVING."""
    if trail is not None:  # auditors read the trail on every service that keeps one
        services = [*services, GrpcService(AUDIT_SERVICE_NAME, AuditServicer(trail),
                                           audit_pb2_grpc.add_AuditServiceServicer_to_server,
                                           {"ListAuditEntries": frozenset({auth.Role.AUDITOR})})]
    guard = Guard(verifier, metrics, services, app, settings.subscribe_streams_per_customer, trail)
    server = grpc.aio.server(options=server_options(settings),
                             maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for s in services:
        if s.name in OPEN_SERVICES:
            raise ValueError(f"{s.name} is open to all and registered by the platform itself")
        s.add_to_server(s.servicer, guard.guarding(server))
    names = tuple(s.name for s in services)
    if settings.grpc_reflection:
        reflection.enable(server, (*names, health.SERVICE_NAME))
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    health_server, health_port = None, 0
    if settings.health_port:  # the same health servicer: its status is the service's, on a port probes can reach
        health_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = health_server.add_insecure_port(f"{settings.grpc_host}:{settings.health_port}")
        await health_server.start()
    running = GrpcServer(server, health_servicer, bound, names, health_server, health_port)
    for name in ("", *names):
        await running.set_serving(name, True)
    return running
