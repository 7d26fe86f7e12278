"""Browser access to the customer-facing RPCs on the console's port: the Connect protocol (unary calls and the
server stream `Subscribe`) and gRPC-Web.

`POST /proactivecare.v1.<Service>/<Method>` with `Authorization: Bearer <token>` is forwarded to the service as the
same gRPC call with the same token, so it meets the same authentication, authorization, validation and audit. Only
the RPCs a bank app calls are offered (`RPCS`, `STREAMS`); the token is taken from the header only (never the
console's cookie: a page of another site cannot make these calls in a signed-in user's name).

- Connect unary (`application/json` or `application/proto`): the body is the request message; the answer is the
  response message in the same encoding, or a Connect error (`{"code": "permission_denied", "message": "..."}`
  with the matching HTTP status).
- Connect server streaming (`application/connect+json` or `application/connect+proto`, for `Subscribe`): the
  body is one enveloped message (1 flag byte, a 4-byte big-endian length, the message); the answer (HTTP 200) is
  the stream's messages, each enveloped, then an end-stream envelope (flag 0x02) holding JSON `{}` or
  `{"error": {"code": ..., "message": ...}}`. `Connect-Timeout-Ms` is the call's deadline.
- gRPC-Web (`application/grpc-web+proto`, unary and streaming): the same envelopes; the status travels in a last
  frame (flag 0x80) of HTTP/1-style trailer lines (`grpc-status`, `grpc-message`). `grpc-timeout` is honoured.

When the browser goes away the upstream call is cancelled. The protocols are plain HTTP (connectrpc.com/docs/protocol,
github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md), so they are written here in a few lines rather than pulling
in a server framework: `@connectrpc/connect-web`'s transports, grpc-web and `curl` speak them.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.console.backend import CALL_TIMEOUT_SECONDS, Backend
from services.gen.proactivecare.v1 import advice_pb2, fraud_pb2, mortgage_pb2, notify_pb2

PACKAGE = "proactivecare.v1"
# (service name, method) -> (backend service, request type, response type)
RPCS: dict[tuple[str, str], tuple[str, type[Message], type[Message]]] = {
    ("NotificationService", "ListNotifications"): ("notify", notify_pb2.ListNotificationsRequest,
                                                   notify_pb2.ListNotificationsResponse),
    ("NotificationService", "Acknowledge"): ("notify", notify_pb2.AcknowledgeRequest, notify_pb2.AcknowledgeResponse),
    ("NotificationService", "GetPreferences"): ("notify", notify_pb2.GetPreferencesRequest,
                                                notify_pb2.GetPreferencesResponse),
    ("NotificationService", "UpdatePreferences"): ("notify", notify_pb2.UpdatePreferencesRequest,
                                                   notify_pb2.UpdatePreferencesResponse),
    ("FraudService", "ListAlerts"): ("fraud", fraud_pb2.ListAlertsRequest, fraud_pb2.ListAlertsResponse),
    ("FraudService", "GetAlert"): ("fraud", fraud_pb2.GetAlertRequest, fraud_pb2.GetAlertResponse),
    ("FraudService", "ResolveAlert"): ("fraud", fraud_pb2.ResolveAlertRequest, fraud_pb2.ResolveAlertResponse),
    ("AdviceService", "ListNudges"): ("advice", advice_pb2.ListNudgesRequest, advice_pb2.ListNudgesResponse),
    ("AdviceService", "RespondToNudge"): ("advice", advice_pb2.RespondToNudgeRequest,
                                          advice_pb2.RespondToNudgeResponse),
    ("MortgageService", "GetCareOptions"): ("mortgage", mortgage_pb2.GetCareOptionsRequest,
                                            mortgage_pb2.GetCareOptionsResponse),
    ("MortgageService", "CheckEligibility"): ("mortgage", mortgage_pb2.CheckEligibilityRequest,
                                              mortgage_pb2.CheckEligibilityResponse),
}
# the server streams, the same way
STREAMS: dict[tuple[str, str], tuple[str, type[Message], type[Message]]] = {
    ("NotificationService", "Subscribe"): ("notify", notify_pb2.SubscribeRequest, notify_pb2.SubscribeResponse),
}
MAX_BODY_BYTES = 64 * 1024
_HTTP_STATUS = {  # Connect's mapping of codes to HTTP statuses
    grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500, grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}
UNARY_TYPES = {"application/json": True, "application/proto": False}  # content type -> JSON?
STREAM_TYPES = {"application/connect+json": True, "application/connect+proto": False}
GRPC_WEB_TYPES = ("application/grpc-web", "application/grpc-web+proto")
GRPC_WEB = "application/grpc-web+proto"
# the envelope both protocols frame messages in: flags, then the payload's length (big-endian)
ENVELOPE = struct.Struct(">BI")
FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02  # Connect: the last envelope, JSON
FLAG_TRAILERS = 0x80  # gRPC-Web: the last frame, trailer lines
_GRPC_TIMEOUT = re.compile(r"(\d{1,8})([HMSmun])")
_GRPC_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if c != ord("%"))  # grpc-message: percent-encode the rest


class Refused(Exception):
    """A call that ends in an error status, before it reaches the service or from it."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Method:
    path: str
    target: str  # the backend service
    request_type: type[Message]
    response_type: type[Message]
    streaming: bool


def code_name(code: grpc.StatusCode) -> str:
    """Connect's name of a status code (its one spelling of its own: `canceled`)."""
    return "canceled" if code == grpc.StatusCode.CANCELLED else code.name.lower()


def connect_error(code: grpc.StatusCode, message: str) -> JSONResponse:
    return JSONResponse({"code": code_name(code), "message": message}, status_code=_HTTP_STATUS.get(code, 500))


def envelope(flags: int, payload: bytes) -> bytes:
    return ENVELOPE.pack(flags, len(payload)) + payload


def single_message(body: bytes) -> bytes:
    """The payload of a request body that must be exactly one uncompressed enveloped message."""
    if len(body) < ENVELOPE.size:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT,
                      "malformed request: the body must be one enveloped message (5-byte prefix, then the message)")
    flags, length = ENVELOPE.unpack_from(body)
    if flags & FLAG_COMPRESSED:
        raise Refused(grpc.StatusCode.UNIMPLEMENTED, "compressed messages are not supported: send them uncompressed")
    if flags:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: unexpected envelope flags {flags:#04x}")
    if len(body) != ENVELOPE.size + length:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: the envelope says {length} bytes, "
                                                        f"the body holds {len(body) - ENVELOPE.size}")
    return body[ENVELOPE.size:]


def routes(backend: Backend) -> list[Route]:
    methods = [Method(f"/{PACKAGE}.{service}/{name}", target, request_type, response_type, streaming)
               for streaming, table in ((False, RPCS), (True, STREAMS))
               for (service, name), (target, request_type, response_type) in table.items()]
    return [Route(m.path, _endpoint(backend, m), methods=["POST"]) for m in methods]


def _endpoint(backend: Backend, method: Method) -> Callable[[Request], Awaitable[Response]]:
    connect_types = STREAM_TYPES if method.streaming else UNARY_TYPES
    accepted = ", ".join([*connect_types, GRPC_WEB])

    async def call(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in GRPC_WEB_TYPES:
            return await _grpc_web(backend, method, request)
        if content_type not in connect_types:
            return Response(status_code=415, headers={"Accept-Post": accepted})
        if method.streaming:
            return await _connect_stream(backend, method, request, connect_types[content_type])
        return await _connect_unary(backend, method, request, connect_types[content_type])

    return call


# -- the three protocols -------------------------------------------------------------------------------------------


async def _connect_unary(backend: Backend, method: Method, request: Request, as_json: bool) -> Response:
    try:
        token, message = await _read_request(request, method, as_json=as_json, framed=False)
        options = _options(backend, token, _connect_timeout(request), streaming=False)
        answer = await _unary(backend, method, message, options)
    except Refused as refused:
        return connect_error(refused.code, refused.message)
    media_type = "application/json" if as_json else "application/proto"
    return Response(_encode(answer, as_json), media_type=media_type)


async def _connect_stream(backend: Backend, method: Method, request: Request, as_json: bool) -> Response:
    media_type = "application/connect+json" if as_json else "application/connect+proto"
    try:
        token, message = await _read_request(request, method, as_json=as_json, framed=True)
        options = _options(backend, token, _connect_timeout(request), streaming=True)
    except Refused as refused:
        return Response(_end_stream(refused), media_type=media_type)
    frames = _frames(_stream(backend, method, message, options), partial(_encode, as_json=as_json), _end_stream)
    return _streaming(frames, media_type)


async def _grpc_web(backend: Backend, method: Method, request: Request) -> Response:
    try:
        token, message = await _read_request(request, method, as_json=False, framed=True)
        options = _options(backend, token, _grpc_timeout(request), streaming=method.streaming)
    except Refused as refused:
        return Response(_trailers(refused), media_type=GRPC_WEB)
    answers = _stream(backend, method, message, options) if method.streaming else \
        _unary_answers(backend, method, message, options)
    return _streaming(_frames(answers, partial(_encode, as_json=False), _trailers), GRPC_WEB)


async def _frames(answers: AsyncIterator[Message], encode: Callable[[Message], bytes],
                  last: Callable[[Refused | None], bytes]) -> AsyncIterator[bytes]:
    """Each answer enveloped, then the protocol's last frame with the call's outcome."""
    try:
        async for answer in answers:
            yield envelope(0, encode(answer))
    except Refused as refused:
        yield last(refused)
        return
    yield last(None)


def _end_stream(refused: Refused | None) -> bytes:
    end = {} if refused is None else {"error": {"code": code_name(refused.code), "message": refused.message}}
    return envelope(FLAG_END_STREAM, json.dumps(end).encode())


def _trailers(refused: Refused | None) -> bytes:
    code, message = (grpc.StatusCode.OK, "") if refused is None else (refused.code, refused.message)
    lines = f"grpc-status:{code.value[0]}\r\ngrpc-message:{quote(message, safe=_MESSAGE_SAFE)}\r\n"
    return envelope(FLAG_TRAILERS, lines.encode("ascii"))


def _streaming(frames: AsyncIterator[bytes], media_type: str) -> StreamingResponse:
    """HTTP 200 whatever the outcome (the status is in the last frame), not buffered by a proxy on the way."""
    return StreamingResponse(frames, media_type=media_type,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- shared by the protocols: the request, the token, the deadline, the upstream call ------------------------------


async def _read_request(request: Request, method: Method, *, as_json: bool, framed: bool) -> tuple[str, Message]:
    """The caller's bearer token and the request message (checked in that order)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
    body = await _body(request)
    return header[7:].strip(), _decode(method.request_type, single_message(body) if framed else body, as_json)


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, "request too large")
    return bytes(body)


def _decode(request_type: type[Message], payload: bytes, as_json: bool) -> Message:
    message = request_type()
    try:
        if as_json:
            json_format.Parse(payload or b"{}", message)
        else:
            message.ParseFromString(payload)
    except (json_format.ParseError, DecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {str(exc)[:200]}") from None
    return message


def _encode(message: Message, as_json: bool) -> bytes:
    return json_format.MessageToJson(message, indent=None).encode() if as_json else message.SerializeToString()


def _connect_timeout(request: Request) -> float | None:
    value = request.headers.get("connect-timeout-ms")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "Connect-Timeout-Ms: at most 10 digits of milliseconds")
    return int(value) / 1000


def _grpc_timeout(request: Request) -> float | None:
    value = request.headers.get("grpc-timeout")
    if value is None:
        return None
    match = _GRPC_TIMEOUT.fullmatch(value)
    if match is None:
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "grpc-timeout: at most 8 digits and a unit (H M S m u n)")
    return int(match[1]) * _GRPC_TIMEOUT_UNITS[match[2]]


def _options(backend: Backend, token: str, deadline: float | None, *, streaming: bool) -> dict[str, object]:
    """The call's keyword arguments: the user's token, and the caller's deadline; a unary call has the console's
    own deadline too (the earlier wins), a stream lasts as long as the browser keeps it open."""
    options = backend.as_user(token)
    if streaming:
        options["timeout"] = deadline
    elif deadline is not None:
        options["timeout"] = min(deadline, CALL_TIMEOUT_SECONDS)
    return options


def _codec(method: Method) -> dict[str, Callable[..., object]]:
    return {"request_serializer": method.request_type.SerializeToString,
            "response_deserializer": method.response_type.FromString}


def _refused(exc: grpc.aio.AioRpcError) -> Refused:
    return Refused(exc.code(), exc.details() or "")


async def _unary(backend: Backend, method: Method, message: Message, options: dict[str, object]) -> Message:
    rpc = backend.channel(method.target).unary_unary(method.path, **_codec(method))
    try:
        return await rpc(message, **options)
    except grpc.aio.AioRpcError as exc:
        raise _refused(exc) from None


async def _stream(backend: Backend, method: Method, message: Message,
                  options: dict[str, object]) -> AsyncIterator[Message]:
    """The server stream's messages; the upstream call is cancelled when the reading stops (the browser gone)."""
    rpc = backend.channel(method.target).unary_stream(method.path, **_codec(method))
    call = rpc(message, **options)
    try:
        async for answer in call:
            yield answer
    except grpc.aio.AioRpcError as exc:
        raise _refused(exc) from None
    finally:
        call.cancel()


async def _unary_answers(backend: Backend, method: Method, message: Message,
                         options: dict[str, object]) -> AsyncIterator[Message]:
    """A unary call's answer as a stream of one (gRPC-Web frames both alike)."""
    yield await _unary(backend, method, message, options)
