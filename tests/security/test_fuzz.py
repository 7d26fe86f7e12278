"""A seeded fuzz test: thousands of generated requests for every RPC of every service (built from the proto
descriptors), sent by callers the RPC admits. No request may end in INTERNAL or UNKNOWN, and every server is
alive and serving afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.advice.app import SERVICE as ADVICE
from services.advisor.app import SERVICE as ADVISOR
from services.mortgage.app import SERVICE as MORTGAGE
from services.notify.app import SERVICE as NOTIFY
from services.platform import auth
from services.platform.app import ServiceApp, ServiceThread
from services.platform.client import connect
from services.platform.grpc_server import scope_of
from tests.security.fraud_stub import fraud_app

EXAMPLES = 2000
BAD_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
QUEUES = ("financial-support", "mortgage-care", "wealth", "fraud-review")

_STRINGS = st.one_of(
    st.sampled_from(["", "C1", "A", "financial-support", "fa-x", "\u00b2", "Mars/Base", "Europe/London", "UK", "US",
                     "4111 1111 1111 1111", "../../etc/passwd", "x" * 300, "GBP", "XXX", "2026-02-30", "9999-12-31",
                     "0", "-1", "bzoxMA==", "\x00", "\u202e", "null"]),
    st.text(max_size=24))
_INTS = {
    FieldDescriptor.TYPE_INT32: st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]),
                                          st.integers(-(2**31), 2**31 - 1)),
    FieldDescriptor.TYPE_INT64: st.one_of(st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 10**13]),
                                          st.integers(-(2**63), 2**63 - 1)),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
}
_TIMESTAMP_SECONDS = st.one_of(st.sampled_from([0, -1, 1, 253402300799, -62135596800, 10**11, -(10**11)]),
                               st.integers(-62135596800, 253402300799))


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_STRING:
        return _STRINGS
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if field.type == field.TYPE_FLOAT else 64)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + [999, -5])
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=16)
    return _INTS.get(field.type, st.integers(0, 2**31 - 1))


def _message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.builds(lambda s, n: cls(seconds=s, nanos=n), _TIMESTAMP_SECONDS, st.integers(-5, 10**9 + 5))
    if depth > 3:
        return st.just(cls())

    @st.composite
    def build(draw: Callable[..., object]) -> Message:
        msg = cls()
        for field in descriptor.fields:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                continue
            if not draw(st.booleans()):
                continue
            strategy = _value(field, depth)
            values = draw(st.lists(strategy, max_size=3)) if field.is_repeated else [draw(strategy)]
            for value in values:
                with contextlib.suppress(ValueError, TypeError, OverflowError):  # e.g. nanos out of range
                    if field.is_repeated and field.type == field.TYPE_MESSAGE:
                        getattr(msg, field.name).add().CopyFrom(value)
                    elif field.is_repeated:
                        getattr(msg, field.name).append(value)
                    elif field.type == field.TYPE_MESSAGE:
                        getattr(msg, field.name).CopyFrom(value)
                    else:
                        setattr(msg, field.name, value)
        return msg

    return build()


def _caller(app: str, method: str, roles: frozenset[auth.Role], token: Callable[..., str]) -> str | None:
    for role in (auth.Role.CUSTOMER, auth.Role.ADVISOR, auth.Role.SERVICE, auth.Role.OPERATOR, auth.Role.AUDITOR):
        if role in roles:
            return token("C1", str(role), queues=QUEUES, scopes=(scope_of(app, method),))
    return None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_generated_requests_never_end_in_internal_and_the_servers_stay_up(settings, token):
    fraud, _handler = fraud_app(settings)
    apps: list[ServiceApp] = [NOTIFY.build(settings), ADVICE.build(settings), ADVISOR.build(settings),
                              MORTGAGE.build(settings), fraud]
    with contextlib.ExitStack() as stack:
        threads = [stack.enter_context(ServiceThread(app, settings)) for app in apps]
        targets: list[tuple[str, MethodDescriptor, str, grpc.Channel]] = []
        for app, svc in zip(apps, threads, strict=True):
            for service in [*app.grpc_services]:
                servicer_desc = _service_descriptor(service.name)
                for method in servicer_desc.methods:
                    caller = _caller(app.name, method.name, service.access.get(method.name, frozenset()), token)
                    if caller is not None:
                        targets.append((app.name, method, service.name, stack.enter_context(
                            connect(svc.target, caller))))
        assert len(targets) >= 20

        seen: dict[str, int] = {}

        @hypothesis_settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            app, method, service_name, channel = data.draw(st.sampled_from(targets))
            request = data.draw(_message(method.input_type))
            path = f"/{service_name}/{method.name}"
            try:
                if method.server_streaming:
                    call = channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString())(
                        request, timeout=0.3)
                    for _ in call:
                        pass
                else:
                    channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString())(request, timeout=10)
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
            seen[code.name] = seen.get(code.name, 0) + 1
            assert code not in BAD_CODES, (app, method.name, request)
            if not method.server_streaming:
                assert code != grpc.StatusCode.DEADLINE_EXCEEDED, (app, method.name, request)

        fuzz()
        print("status codes of the generated calls:", dict(sorted(seen.items())))
        assert sum(seen.values()) >= EXAMPLES and "INVALID_ARGUMENT" in seen and "OK" in seen, seen
        for svc in threads:
            with connect(svc.target) as channel:
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
            assert status == health_pb2.HealthCheckResponse.SERVING or svc.app.unready_reason() is not None


def _service_descriptor(full_name: str):
    from google.protobuf import descriptor_pool

    return descriptor_pool.Default().FindServiceByName(full_name)
