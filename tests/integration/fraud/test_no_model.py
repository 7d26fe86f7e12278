"""Without a model the fraud service stays up NOT_SERVING and consumes nothing, rather than crash-looping."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.fraud.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from tests.integration.conftest import wait_for


def _status(target: str) -> int:
    with connect(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_no_model_means_not_serving_with_the_reason(settings, tmp_path, caplog):
    (tmp_path / "models").mkdir()
    app = SERVICE.build(settings, model_dir=tmp_path / "models")
    assert app.runners == [] and "fraud model not loaded" in app.unready_reason()
    assert "no model in" in app.unready_reason()
    with ServiceThread(app, settings) as svc:
        assert wait_for(lambda: _status(svc.target) == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=10)
    assert any("NOT_SERVING" in r.getMessage() for r in caplog.records)
