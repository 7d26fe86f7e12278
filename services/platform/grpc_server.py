"""The gRPC bootstrap: the only server set-up in the project.

`grpc.aio` server + the official health service (per-service status, NOT_SERVING on shutdown) + server
reflection + one interceptor that, around every call: verifies the bearer token and the caller's role for the
method, records go-grpc-prometheus metrics, and maps domain errors to status codes (never a stack trace).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.platform import auth, logs, reflection, tracing
from services.platform.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    is_transient,
)
from services.platform.metrics import GrpcMetrics

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
)


class _CallGuard:
    """Authentication, authorization, metrics and error mapping for one method."""

    def __init__(self, secret: str, metrics: GrpcMetrics, service: str, method: str, grpc_type: str,
                 roles: frozenset[auth.Role]) -> None:
        self.secret = secret
        self.metrics = metrics
        self.labels = (grpc_type, service, method)
        self.roles = roles
        metrics.started.labels(*self.labels)
        metrics.handled.labels(*self.labels, "OK")

    def authenticate(self, context: grpc.aio.ServicerContext) -> auth.Principal:
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
        if not header.lower().startswith("bearer "):
            raise auth.AuthError("missing bearer token")
        principal = auth.verify_token(self.secret, header[7:].strip())
        if principal.role not in self.roles:
            raise PermissionDeniedError(f"role {principal.role} may not call {self.labels[2]}")
        return principal

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
        self.metrics.handled.labels(*self.labels, name).inc()
        if tracing.enabled() and (span := trace.get_current_span()).is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0] if isinstance(code, grpc.StatusCode) else -1)
            span.end()
        self.metrics.handling_seconds.labels(*self.labels).observe(time.perf_counter() - started)


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
        guard.metrics.started.labels(*guard.labels).inc()
        try:
            token = auth.set_principal(guard.authenticate(context))
            try:
                return await inner(request, context)
            finally:
                auth.reset_principal(token)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await guard.fail(context, exc)
        finally:
            guard.done(context, started)

    return behavior


def _guard_stream(guard: _CallGuard, inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        guard.metrics.started.labels(*guard.labels).inc()
        try:
            # Each RPC runs in its own task and context, so the principal dies with the call. (No reset here:
            # a stream the client cancels is closed from another context, where a reset token is invalid.)
            auth.set_principal(guard.authenticate(context))
            async for item in inner(request, context):
                guard.metrics.msg_sent.labels(*guard.labels).inc()
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await guard.fail(context, exc)
        finally:
            guard.done(context, started)

    return behavior


class GuardInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, secret: str, metrics: GrpcMetrics, services: Sequence[GrpcService]) -> None:
        self.secret = secret
        self.metrics = metrics
        self.access = {s.name: s.access for s in services}
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation: Callable[..., Awaitable[grpc.RpcMethodHandler]],
                                details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method_path: str = details.method
        service, _, method = method_path.lstrip("/").partition("/")
        if handler is None or service in OPEN_SERVICES:
            return handler
        if method_path in self._cache:
            return self._cache[method_path]
        roles = self.access.get(service, {}).get(method, frozenset())
        if handler.unary_unary is not None:
            guard = _CallGuard(self.secret, self.metrics, service, method, "unary", roles)
            wrapped = grpc.unary_unary_rpc_method_handler(
                _guard_unary(guard, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        elif handler.unary_stream is not None:
            guard = _CallGuard(self.secret, self.metrics, service, method, "server_stream", roles)
            wrapped = grpc.unary_stream_rpc_method_handler(
                _guard_stream(guard, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        else:  # client/bidi streaming is not used by this project: refuse rather than run unguarded
            raise NotImplementedError(f"unsupported RPC type for {method_path}")
        self._cache[method_path] = wrapped
        return wrapped


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    service_names: tuple[str, ...]

    async def set_serving(self, name: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set(name, status)

    async def shutdown(self, grace_seconds: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)


async def start_grpc_server(services: Sequence[GrpcService], *, host: str, port: int, secret: str,
                            metrics: GrpcMetrics) -> GrpcServer:
    """Bind (port 0 = any free port), register health and reflection, start. Everything SERVING."""
    server = grpc.aio.server(interceptors=[GuardInterceptor(secret, metrics, services)],
                             options=[("grpc.so_reuseport", 0)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for s in services:
        s.add_to_server(s.servicer, server)
    names = tuple(s.name for s in services)
    reflection.enable(server, (*names, health.SERVICE_NAME))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    running = GrpcServer(server, health_servicer, bound, names)
    for name in ("", *names):
        await running.set_serving(name, True)
    return running
