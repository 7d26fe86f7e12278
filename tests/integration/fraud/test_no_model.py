"""Without a model the fraud service stays up NOT_SERVING and consumes nothing, rather than crash-looping; in
development, while the first model trains, it may score with the policy's rules alone."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.fraud.app import SERVICE, WITHOUT_MODEL_ENV
from services.fraud.model import RULES_ONLY
from services.gen.proactivecare.v1 import fraud_pb2, fraud_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from tests.integration.conftest import wait_for
from tests.integration.fraud.test_fraud_service import SCORER
from tests.unit.fraud.builders import card_payment


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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_in_development_without_a_model_the_rules_alone_score_until_one_is_trained(settings, tmp_path, token,
                                                                                    monkeypatch):
    """`make run` while the first model trains: the policy's rules alert (a payment over the always-check
    amount); an ordinary payment is allowed; the model served is `rules-only`."""
    monkeypatch.setenv(WITHOUT_MODEL_ENV, "rules")
    (tmp_path / "models").mkdir()
    settings = settings.with_overrides(environment="development")
    app = SERVICE.build(settings, model_dir=tmp_path / "models")
    served = {s.labels["version"] for m in app.registry.collect() for s in m.samples
              if m.name == "proactivecare_fraud_model_info"}
    assert served == {RULES_ONLY} and app.unready_reason() is None
    with ServiceThread(app, settings) as svc, connect(svc.target, token(*SCORER)) as channel:
        stub = fraud_pb2_grpc.FraudServiceStub(channel)
        big = stub.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(
            transaction=card_payment("big", "R1", 520_000, "T-R1")), timeout=10)
        usual = stub.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(
            transaction=card_payment("usual", "R2", 3_000, "T-R2")), timeout=10)
    assert big.decision != fraud_pb2.DECISION_ALLOW and "AMOUNT_OVER_LIMIT" in [r.code for r in big.reasons]
    assert usual.decision == fraud_pb2.DECISION_ALLOW


def test_outside_development_no_model_stays_not_serving_even_when_asked_for_rules(settings, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv(WITHOUT_MODEL_ENV, "rules")
    (tmp_path / "models").mkdir()
    app = SERVICE.build(settings.with_overrides(environment="production"), model_dir=tmp_path / "models")
    assert "fraud model not loaded" in (app.unready_reason() or "")
    app.store.close()
