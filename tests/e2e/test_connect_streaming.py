"""`NotificationService.Subscribe` from a browser's own code: the Connect protocol's server streaming (and
gRPC-Web) on the console's port over real HTTP, in front of the real notify service on the real broker. The
framing is written out here on its own (1 flag byte, a 4-byte big-endian length, the payload), as a browser's
transport would, rather than borrowed from the console."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import httpx
import pytest

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.notify.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.topics import NOTIFICATIONS
from tests import factories
from tests.console import console_server
from tests.integration.conftest import wait_for

SUBSCRIBE = "/proactivecare.v1.NotificationService/Subscribe"
END_STREAM, TRAILERS = 0x02, 0x80
CONNECT_JSON = "application/connect+json"


@pytest.fixture
def running(settings) -> Iterator[tuple[ServiceThread, httpx.Client]]:
    """The notify service, the console in front of it, and an HTTP client of the console (15 s to any byte)."""
    with ServiceThread(SERVICE.build(settings), settings) as notify, \
            console_server(settings, lambda _name: notify.target) as url, \
            httpx.Client(base_url=url, timeout=15) as web:
        yield notify, web


def framed(payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def frames(response: httpx.Response) -> Iterator[tuple[int, bytes]]:
    """The (flags, payload) frames of a streamed response body, each as soon as it has arrived whole."""
    buffer = b""
    for chunk in response.iter_bytes():
        buffer += chunk
        while len(buffer) >= 5 and len(buffer) >= 5 + struct.unpack(">I", buffer[1:5])[0]:
            flags, length = struct.unpack(">BI", buffer[:5])
            yield flags, buffer[5:5 + length]
            buffer = buffer[5 + length:]
    assert not buffer, f"a partial frame at the end of the stream: {buffer!r}"


def headers(token: str, content_type: str = CONNECT_JSON, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": content_type, **extra}


def subscribe_json(customer_id: str, after: int = 0) -> bytes:
    return framed(json.dumps({"customerId": customer_id, "afterSequence": str(after)}).encode())


def publish(produce, customer_id: str, title: str) -> events_pb2.Notification:
    note = factories.notification(customer_id, title=title)
    produce(NOTIFICATIONS, customer_id, note.SerializeToString())
    return note


def open_streams(notify: ServiceThread) -> float:
    return notify.app.registry.get_sample_value("proactivecare_notify_subscribers") or 0.0


def test_a_customer_receives_new_notifications_in_order_and_resumes_after_a_sequence(running, produce, token):
    notify, web = running
    before = publish(produce, "C1", "before the stream")
    with web.stream("POST", SUBSCRIBE, headers=headers(token("C1")), content=subscribe_json("C1")) as response:
        assert response.status_code == 200 and response.headers["content-type"] == CONNECT_JSON
        stream = frames(response)
        flags, payload = next(stream)
        assert flags == 0 and json.loads(payload)["delivered"]["notification"]["id"] == before.id
        later = [publish(produce, "C1", f"after the stream opened {i}") for i in range(2)]
        received = [json.loads(next(stream)[1])["delivered"] for _ in later]
        assert [(d["sequence"], d["notification"]["id"]) for d in received] == [
            ("2", later[0].id), ("3", later[1].id)]  # in order, int64 as a string (proto3 JSON)
        assert open_streams(notify) == 1
    assert wait_for(lambda: open_streams(notify) == 0, timeout=10)  # the browser went away: upstream closed

    # resumed after sequence 2, in binary, with a deadline: the one after it, then the deadline in the end-stream
    resume = framed(notify_pb2.SubscribeRequest(customer_id="C1", after_sequence=2).SerializeToString())
    with web.stream("POST", SUBSCRIBE, content=resume, headers=headers(
            token("C1"), "application/connect+proto", **{"connect-timeout-ms": "1500"})) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "application/connect+proto"
        (flags, payload), (end_flags, end) = list(frames(response))
    assert flags == 0 and notify_pb2.SubscribeResponse.FromString(payload).delivered.notification.id == later[1].id
    assert end_flags == END_STREAM and json.loads(end)["error"]["code"] == "deadline_exceeded"


def test_a_customer_cannot_subscribe_to_someone_else(running, token):
    _notify, web = running
    answer = web.post(SUBSCRIBE, headers=headers(token("C2")), content=subscribe_json("C1"))
    assert answer.status_code == 200 and answer.headers["content-type"] == CONNECT_JSON  # Connect: errors at the end
    ((flags, payload),) = list(frames(answer))
    assert flags == END_STREAM and json.loads(payload)["error"]["code"] == "permission_denied"


def test_malformed_subscribe_calls_get_a_clear_error(running, token):
    _notify, web = running
    good = headers(token("C1"))
    body = json.dumps({"customerId": "C1"}).encode()
    # (what, HTTP method, headers, body) -> the HTTP status, and the Connect code and a part of the message
    cases = [
        ("a unary content type", "POST", headers(token("C1"), "application/json"), body, 415, None),
        ("no content type", "POST", {"authorization": good["authorization"]}, framed(body), 415, None),
        ("GET", "GET", good, b"", 405, None),
        ("no envelope", "POST", good, body[:4], 200, ("invalid_argument", "5-byte prefix")),
        ("a length the body does not hold", "POST", good, framed(body)[:-1],
         200, ("invalid_argument", "the envelope says")),
        ("two messages", "POST", good, framed(body) * 2, 200, ("invalid_argument", "the envelope says")),
        ("a compressed message", "POST", good, framed(body, flags=0x01), 200, ("unimplemented", "compressed")),
        ("an unknown flag", "POST", good, framed(body, flags=0x04), 200, ("invalid_argument", "flags 0x04")),
        ("not the request's JSON", "POST", good, framed(b'{"customer": 1}'), 200, ("invalid_argument", "customer")),
        ("a negative sequence", "POST", good, subscribe_json("C1", after=-1), 200,
         ("invalid_argument", "after_sequence")),
        ("no token", "POST", {"content-type": CONNECT_JSON}, framed(body), 200, ("unauthenticated", "bearer")),
        ("a timeout that is no number", "POST", {**good, "connect-timeout-ms": "soon"}, framed(body), 200,
         ("invalid_argument", "Connect-Timeout-Ms")),
    ]
    for what, method, sent_headers, sent, status, error in cases:
        answer = web.request(method, SUBSCRIBE, headers=sent_headers, content=sent)
        assert answer.status_code == status, what
        if status == 415:
            assert CONNECT_JSON in answer.headers["accept-post"], what
        if error is not None:
            ((flags, payload),) = list(frames(answer))
            got = json.loads(payload)["error"]
            assert flags == END_STREAM and got["code"] == error[0] and error[1] in got["message"], (what, got)


def test_grpc_web_unary_and_streaming(running, produce, token):
    notify, web = running
    grpc_web = headers(token("C1"), "application/grpc-web+proto")
    note = publish(produce, "C1", "over gRPC-Web")

    def listed() -> list[str]:  # a unary call: one data frame, then the trailers
        asked = framed(notify_pb2.ListNotificationsRequest(customer_id="C1").SerializeToString())
        answer = web.post("/proactivecare.v1.NotificationService/ListNotifications", headers=grpc_web, content=asked)
        (flags, payload), (trailer_flags, trailers) = list(frames(answer))
        assert flags == 0 and trailer_flags == TRAILERS and trailers.startswith(b"grpc-status:0\r\n")
        return [d.notification.id for d in notify_pb2.ListNotificationsResponse.FromString(payload).notifications]

    assert wait_for(lambda: listed() == [note.id], timeout=15)  # stored: the stream below has it at once
    request = framed(notify_pb2.SubscribeRequest(customer_id="C1").SerializeToString())
    streamed = web.post(SUBSCRIBE, headers={**grpc_web, "grpc-timeout": "800m"}, content=request)
    (flags, payload), (trailer_flags, trailers) = list(frames(streamed))
    assert flags == 0 and notify_pb2.SubscribeResponse.FromString(payload).delivered.notification.id == note.id
    assert trailer_flags == TRAILERS and trailers.startswith(b"grpc-status:4\r\n")  # DEADLINE_EXCEEDED
    assert wait_for(lambda: open_streams(notify) == 0, timeout=10)

    theirs = web.post(SUBSCRIBE, headers=headers(token("C2"), "application/grpc-web+proto"), content=request)
    ((flags, trailers),) = list(frames(theirs))
    assert theirs.status_code == 200 and flags == TRAILERS
    assert trailers.startswith(b"grpc-status:7\r\ngrpc-message:")  # PERMISSION_DENIED
