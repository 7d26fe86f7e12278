"""Unrestricted resource consumption: streams per customer, message sizes, streams outliving their token, the
scoring queue."""

from __future__ import annotations

import asyncio
import queue
import threading

import grpc
import pytest

from services.fraud.batching import MicroBatcher
from services.gen.proactivecare.v1 import notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE as NOTIFY
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.errors import ResourceExhaustedError
from tests.integration.conftest import dev_identity

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the limits are the server's, not the store's


class _Stream:
    """A Subscribe stream read on a thread: its first error (or None while it is open)."""

    def __init__(self, stub: notify_pb2_grpc.NotificationServiceStub, customer_id: str) -> None:
        self.call = stub.Subscribe(notify_pb2.SubscribeRequest(customer_id=customer_id))
        self.ended: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for _ in self.call:
                pass
            self.ended.put(grpc.StatusCode.OK)
        except grpc.RpcError as err:
            self.ended.put((err.code(), err.details()))

    def outcome(self, timeout: float) -> object:
        try:
            return self.ended.get(timeout=timeout)
        except queue.Empty:
            return None


@SQLITE
def test_a_stream_flood_from_one_customer_is_refused_beyond_the_limit(settings, token):
    limited = settings.with_overrides(subscribe_streams_per_customer=2)
    with ServiceThread(NOTIFY.build(limited), limited) as svc, connect(svc.target, token("F1")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        first, second = _Stream(stub, "F1"), _Stream(stub, "F1")
        assert first.outcome(1.0) is None and second.outcome(1.0) is None  # both open
        third = _Stream(stub, "F1")
        code, details = third.outcome(15.0)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "at most 2" in details
        with connect(svc.target, token("F2")) as other:  # another customer is not affected
            assert _Stream(notify_pb2_grpc.NotificationServiceStub(other), "F2").outcome(1.0) is None
        first.call.cancel()
        assert first.outcome(15.0)[0] == grpc.StatusCode.CANCELLED
        for _ in range(50):  # the slot is given back once the server sees the cancel
            again = _Stream(stub, "F1")
            if again.outcome(0.5) is None:
                break
        assert again.outcome(0.5) is None
        for s in (second, again):
            s.call.cancel()


@SQLITE
def test_a_stream_ends_when_its_token_expires(settings):
    short = dev_identity().issue("E1", "customer", audience=settings.audience("notify"), issuer=settings.auth_issuer,
                                 ttl_seconds=3)
    with ServiceThread(NOTIFY.build(settings), settings) as svc, connect(svc.target, short) as channel:
        stream = _Stream(notify_pb2_grpc.NotificationServiceStub(channel), "E1")
        assert stream.outcome(30.0) == (grpc.StatusCode.UNAUTHENTICATED, "token expired")


@SQLITE
def test_an_oversized_request_is_refused(settings, token):
    small = settings.with_overrides(grpc_max_message_bytes=64 * 1024)
    with ServiceThread(NOTIFY.build(small), small) as svc, connect(svc.target, token("O1")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Acknowledge(notify_pb2.AcknowledgeRequest(customer_id="O1", notification_ids=["n" * 1000] * 100),
                             timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # the server is fine afterwards
        assert stub.Acknowledge(notify_pb2.AcknowledgeRequest(customer_id="O1", notification_ids=["n1"]),
                                timeout=10).acknowledged == 0


def test_the_scoring_queue_is_bounded():
    release = threading.Event()

    def slow_batch(items: list[int]) -> list[int]:
        release.wait(10)
        return items

    async def flood() -> tuple[list[int], int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(slow_batch, max_batch=1, max_queue=3)
        calls = [asyncio.create_task(batcher.submit(i)) for i in range(10)]
        await asyncio.sleep(0.2)
        release.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = sum(isinstance(r, ResourceExhaustedError) for r in results)
        return [r for r in results if isinstance(r, int)], refused

    done, refused = asyncio.run(flood())
    assert refused == 7 and done == [0, 1, 2]
