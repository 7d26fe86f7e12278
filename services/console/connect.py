"""Browser access to the customer-facing RPCs: the Connect protocol's unary calls on the console's port.

`POST /proactivecare.v1.<Service>/<Method>` with `Content-Type: application/json` (or `application/proto`) and
`Authorization: Bearer <token>` is forwarded to the service as the same gRPC call with the same token, so it
meets the same authentication, authorization, validation and audit; the answer is the response message in the
same encoding, or a Connect error (`{"code": "permission_denied", "message": "..."}` with the matching HTTP
status). Only the RPCs a bank app calls are offered (`RPCS`); the token is taken from the header only (never the
console's cookie: a page of another site cannot make these calls in a signed-in user's name). Streaming calls
(`Subscribe`) are not offered here: the inbox page's server-sent events serve them.

The Connect unary protocol is plain HTTP + JSON/protobuf (connectrpc.com/docs/protocol), so it is written here in
a few lines rather than pulling in a server framework: `@connectrpc/connect-web`'s transport and `curl` speak it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.console.backend import Backend
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
MAX_BODY_BYTES = 64 * 1024
_HTTP_STATUS = {  # Connect's mapping of codes to HTTP statuses
    grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500, grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}


def connect_error(code: grpc.StatusCode, message: str) -> JSONResponse:
    return JSONResponse({"code": code.name.lower(), "message": message}, status_code=_HTTP_STATUS.get(code, 500))


def routes(backend: Backend) -> list[Route]:
    def endpoint(service: str, method: str) -> Callable[[Request], object]:
        target, request_type, response_type = RPCS[(service, method)]
        path = f"/{PACKAGE}.{service}/{method}"

        async def call(request: Request) -> Response:
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            if content_type not in ("application/json", "application/proto"):
                return Response(status_code=415, headers={"Accept-Post": "application/json, application/proto"})
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                return connect_error(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return connect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "request too large")
            try:
                message = request_type()
                if content_type == "application/json":
                    json_format.Parse(body or b"{}", message)
                else:
                    message.ParseFromString(body)
            except (json_format.ParseError, DecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                return connect_error(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {str(exc)[:200]}")
            rpc = backend.channel(target).unary_unary(path, request_serializer=request_type.SerializeToString,
                                                      response_deserializer=response_type.FromString)
            try:
                answer = await rpc(message, **backend.as_user(header[7:].strip()))
            except grpc.aio.AioRpcError as exc:
                return connect_error(exc.code(), exc.details() or "")
            if content_type == "application/proto":
                return Response(answer.SerializeToString(), media_type="application/proto")
            return Response(json_format.MessageToJson(answer, indent=None), media_type="application/json")

        return call

    return [Route(f"/{PACKAGE}.{service}/{method}", endpoint(service, method), methods=["POST"])
            for service, method in RPCS]
