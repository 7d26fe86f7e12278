"""The gRPC bootstrap over a real channel: health, reflection, authentication, authorization, error mapping."""

from __future__ import annotations

import asyncio
import sqlite3

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError

from services.devtools.kafka_launcher import free_port
from services.gen.proactivecare.v1 import notify_pb2, notify_pb2_grpc
from services.platform import auth
from services.platform.app import ServiceApp, ServiceThread
from services.platform.client import connect
from services.platform.dev_identity import DevIdentity, ensure_dev_identity
from services.platform.errors import ValidationError
from services.platform.grpc_server import GrpcService
from services.platform.storage import Store
from services.platform.topics import TRANSACTIONS
from tests import factories
from tests.integration.conftest import dev_identity, wait_for
from tests.integration.platform.ledger import build_runner

SERVICE = "proactivecare.v1.NotificationService"


class _Preferences(notify_pb2_grpc.NotificationServiceServicer):
    """A stand-in servicer: just enough to exercise the bootstrap's guards."""

    async def GetPreferences(self, request, context):
        if not request.customer_id:
            raise ValidationError("customer_id", "is required")
        auth.require_customer(request.customer_id)
        if request.customer_id == "boom":
            raise RuntimeError("secret internal detail")
        if request.customer_id == "locked":  # what a store busy past its timeout raises
            raise OperationalError("UPDATE preferences", {}, sqlite3.OperationalError("database is locked"))
        return notify_pb2.GetPreferencesResponse(
            preferences=notify_pb2.Preferences(customer_id=request.customer_id, time_zone="Europe/London"))


def _app(settings, with_worker=False) -> ServiceApp:
    registry = CollectorRegistry()
    runners = [build_runner(settings, registry)[0]] if with_worker else []
    roles = frozenset({auth.Role.CUSTOMER, auth.Role.OPERATOR})
    return ServiceApp(
        name="probe", store=Store.open(settings.data_dir / "probe.sqlite"), registry=registry,
        grpc_services=[GrpcService(SERVICE, _Preferences(), notify_pb2_grpc.add_NotificationServiceServicer_to_server,
                                   {"GetPreferences": roles})],
        runners=runners)


def _health(target: str, service: str = "") -> int:
    with connect(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service)).status


def test_health_is_serving_and_reflection_lists_the_services(settings):
    with ServiceThread(_app(settings), settings) as svc:
        assert _health(svc.target) == health_pb2.HealthCheckResponse.SERVING
        assert _health(svc.target, SERVICE) == health_pb2.HealthCheckResponse.SERVING
        with connect(svc.target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            names = {s.name for r in responses for s in r.list_services_response.service}
        assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_health_turns_not_serving_as_soon_as_shutdown_starts(settings):
    svc = ServiceThread(_app(settings), settings).__enter__()
    target = svc.target
    stopping = asyncio.run_coroutine_threadsafe(svc.running.stop(drain_seconds=2.0, grace_seconds=1.0), svc.loop)
    assert wait_for(lambda: _health(target) == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=1.5)
    assert _health(target, SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
    stopping.result(30)
    svc.running = None
    svc.stop()


def test_a_dead_worker_makes_the_service_not_serving(settings):
    app = _app(settings, with_worker=True)
    with ServiceThread(app, settings) as svc:
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.SERVING)
        app.runners[0].stop()  # the worker thread ends while the server keeps running
        app.runners[0].join(30)
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=5)


@pytest.mark.parametrize(("caller", "role", "asked_for", "code"), [
    ("A", "customer", "A", grpc.StatusCode.OK),
    ("A", "customer", "B", grpc.StatusCode.PERMISSION_DENIED),  # a customer reaches only its own data
    ("ops-1", "operator", "B", grpc.StatusCode.OK),
    ("adv-1", "advisor", "B", grpc.StatusCode.PERMISSION_DENIED),  # role not allowed on this method
    ("A", "customer", "", grpc.StatusCode.INVALID_ARGUMENT),
    ("A", "customer", "boom", grpc.StatusCode.PERMISSION_DENIED),
    ("ops-1", "operator", "boom", grpc.StatusCode.INTERNAL),
    ("ops-1", "operator", "locked", grpc.StatusCode.UNAVAILABLE),  # transient: the caller may retry
])
def test_tokens_roles_and_errors_map_to_status_codes(settings, token, caller, role, asked_for, code):
    with ServiceThread(_app(settings), settings) as svc, connect(svc.target, token(caller, role)) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        try:
            reply = stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id=asked_for))
            got, details = grpc.StatusCode.OK, reply.preferences.customer_id
        except grpc.RpcError as err:
            got, details = err.code(), err.details()
    assert got == code
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert "customer_id" in details  # names the field
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        assert "secret internal detail" not in details and "Traceback" not in details
        assert "database is locked" not in details and "UPDATE" not in details


@pytest.mark.parametrize("bad_token", ["", "not-a-jwt", "__forged__", "__expired__"])
def test_missing_forged_or_expired_tokens_are_unauthenticated(settings, bad_token):
    if bad_token == "__forged__":  # another key pair, claiming the real key's id
        other = ensure_dev_identity(settings.data_dir / "other-identity")
        bad_token = DevIdentity(other.directory, dev_identity().kid).issue(
            "A", "customer", audience=settings.audience("probe"), issuer=settings.auth_issuer)
    elif bad_token == "__expired__":
        bad_token = dev_identity().issue("A", "customer", audience=settings.audience("probe"),
                                         issuer=settings.auth_issuer, ttl_seconds=-120)
    with ServiceThread(_app(settings), settings) as svc, connect(svc.target, bad_token or None) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="A"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_grpc_metrics_use_the_go_grpc_prometheus_names(settings, token):
    app = _app(settings)
    with ServiceThread(app, settings) as svc, connect(svc.target, token("A")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="A"))
        with pytest.raises(grpc.RpcError):
            stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="B"))
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "GetPreferences"}
    assert app.registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "OK"}) == 1
    assert app.registry.get_sample_value("grpc_server_handled_total",
                                         {**labels, "grpc_code": "PermissionDenied"}) == 1
    assert app.registry.get_sample_value("grpc_server_handling_seconds_count", labels) == 2


def test_a_worker_stuck_on_a_batch_makes_the_service_not_serving(settings, produce):

    stuck = settings.with_overrides(stuck_batch_seconds=0.5)
    registry = CollectorRegistry()
    runner, store = build_runner(stuck, registry, delay_per_batch=4.0)  # a handler that hangs for 4 s
    app = ServiceApp(name="probe", store=store, registry=registry, runners=[runner])
    with ServiceThread(app, stuck) as svc:
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.SERVING)
        tx = factories.transaction()
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=10)
        # the batch completes: SERVING again
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.SERVING, timeout=15)


def test_invalid_input_carries_a_bad_request_naming_the_field(settings, token):
    """The readable "field: message" and, in the status details, google.rpc.BadRequest for client libraries."""
    with ServiceThread(_app(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id=""))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "customer_id: is required"
    status = rpc_status.from_call(err.value)
    assert status is not None and status.code == code_pb2.INVALID_ARGUMENT
    (detail,) = status.details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    assert [(v.field, v.description, v.reason) for v in bad.field_violations] == [
        ("customer_id", "is required", "INVALID")]


def test_the_health_port_answers_probes_in_plaintext_and_serves_nothing_else(settings):
    """Kubernetes' gRPC probes cannot speak TLS: HEALTH_PORT serves grpc.health.v1 alone, in plaintext."""
    probe_port = free_port()
    with ServiceThread(_app(settings), settings.with_overrides(health_port=probe_port)) as svc:
        with grpc.insecure_channel(f"127.0.0.1:{probe_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as other:
                notify_pb2_grpc.NotificationServiceStub(channel).GetPreferences(
                    notify_pb2.GetPreferencesRequest(customer_id="A"), timeout=5)
            assert other.value.code() == grpc.StatusCode.UNIMPLEMENTED  # no business RPC on the plaintext port
        with grpc.insecure_channel(svc.target) as plaintext, pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(plaintext).Check(health_pb2.HealthCheckRequest(), timeout=3)  # TLS only
