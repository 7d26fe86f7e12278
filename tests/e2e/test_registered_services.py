"""Every registered service (services/registry.py) starts, serves health and reflection, and stops cleanly; and
reflection works as grpcurl and ghz use it: every method of every service resolves through reflection alone
(v1 and v1alpha), with the message types it needs."""

from __future__ import annotations

import json
import os
import subprocess
import time

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from services import registry
from services.gen.proactivecare.v1 import advice_pb2, advisor_pb2, fraud_pb2, mortgage_pb2, notify_pb2
from services.platform import reflection
from services.platform.client import connect
from tests.integration.operations.tools import tool
from tests.system import whole_system
from tests.unit.fraud.builders import card_payment

SERVICES = [s for module in (fraud_pb2, advice_pb2, advisor_pb2, mortgage_pb2, notify_pb2)
            for s in module.DESCRIPTOR.services_by_name.values()]


def ask(channel: grpc.Channel, version: str, request: reflection_pb2.ServerReflectionRequest,
        ) -> reflection_pb2.ServerReflectionResponse:
    """One request to `grpc.reflection.<version>.ServerReflection` (the messages are the same on the wire)."""
    call = channel.stream_stream(f"/{version}/ServerReflectionInfo",
                                 request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    (reply,) = list(call(iter([request]), timeout=10))
    return reply


def test_every_registered_service_starts_serves_health_and_stops_cleanly(settings, fraud_model_dir):
    with whole_system(settings, fraud_model_dir) as system:
        assert list(system) == list(registry.NAMES)
        targets = {name: svc.target for name, svc in system.items()}
        for name, target in targets.items():
            with connect(target) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                for service in ("", *(s.full_name for s in SERVICES if s.full_name.lower().startswith(
                        f"proactivecare.v1.{name}"))):
                    status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
                    assert status == health_pb2.HealthCheckResponse.SERVING, (name, service)
    for name, target in targets.items():  # stopped: nothing answers any more
        with connect(target) as channel, pytest.raises(grpc.RpcError) as gone:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert gone.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), name


@pytest.fixture
def system(settings, fraud_model_dir):
    with whole_system(settings, fraud_model_dir) as running:
        yield running


@pytest.mark.parametrize("version", reflection.NAMES)
def test_every_method_of_every_service_resolves_through_reflection(system, version):
    for name, svc in system.items():
        with connect(svc.target) as channel:
            listed = ask(channel, version, reflection_pb2.ServerReflectionRequest(list_services=""))
            offered = {s.name for s in listed.list_services_response.service}
            assert set(reflection.NAMES) <= offered, name
            for service in (s for s in SERVICES if s.full_name in offered):
                for method in service.methods:
                    symbol = f"{service.full_name}.{method.name}"  # what `grpcurl describe` asks for
                    reply = ask(channel, version, reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol=symbol))
                    assert reply.file_descriptor_response.file_descriptor_proto, (version, symbol)
            reply = ask(channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=version))
            assert reply.file_descriptor_response.file_descriptor_proto, version  # the reflection service itself
            missing = ask(channel, version, reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="proactivecare.v1.FraudService.NoSuchMethod"))
            assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_a_client_builds_every_request_and_response_type_from_reflection_alone(system):
    """What ghz does with `--call`: a descriptor pool fed only by the server."""
    served = 0
    for svc in system.values():
        with connect(svc.target) as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            pool = descriptor_pool.DescriptorPool(database)
            for service in (s for s in SERVICES if s.full_name in set(database.get_services())):
                found = pool.FindServiceByName(service.full_name)
                served += 1
                for method in service.methods:
                    resolved = found.methods_by_name[method.name]
                    assert resolved.input_type.full_name == method.input_type.full_name
                    assert resolved.output_type.full_name == method.output_type.full_name
                    assert [f.name for f in resolved.output_type.fields] == [f.name for f in method.output_type.fields]
    assert served == len(SERVICES)


def test_grpcurl_and_ghz_work_from_reflection_alone(system, token):
    """The newcomer's tools, as they are: no proto files handed to them."""
    target = system["fraud"].target
    ca = os.environ["GRPC_TLS_CA_FILE"]  # the tests' development CA (tests/conftest.py): TLS, as in production
    described = subprocess.run([tool("grpcurl"), "-cacert", ca, target, "describe",
                                "proactivecare.v1.FraudService.ScoreTransaction"],
                               capture_output=True, text=True, timeout=60)
    assert described.returncode == 0, described.stderr
    assert "rpc ScoreTransaction ( .proactivecare.v1.ScoreTransactionRequest )" in described.stdout
    payment = card_payment("ghz-1", "G1", 2_500, "T-1", time.time())
    caller = token("svc", "service", scopes=("fraud:ScoreTransaction",))
    loaded = subprocess.run([tool("ghz"), "--cacert", ca, "--call", "proactivecare.v1.FraudService/ScoreTransaction",
                             "-n", "40", "-c", "4", "--format", "json",
                             "--metadata", json.dumps({"authorization": f"Bearer {caller}"}),
                             "-d", json_format.MessageToJson(fraud_pb2.ScoreTransactionRequest(transaction=payment),
                                                          preserving_proto_field_name=True),
                             target], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(loaded.stdout)
    assert report["count"] == 40 and report["statusCodeDistribution"] == {"OK": 40}, report.get("errorDistribution")
