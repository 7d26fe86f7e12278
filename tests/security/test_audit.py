"""Staff reads and changes of customer data leave an append-only trail (table and `audit` topic) that only
auditors read."""

from __future__ import annotations

import time

import grpc
import pytest
from sqlalchemy.exc import DBAPIError

from services.gen.proactivecare.v1 import audit_pb2, audit_pb2_grpc, fraud_pb2, fraud_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import AUDIT
from tests.integration.conftest import read_topic
from tests.security.fraud_stub import fraud_app, records, run
from tests.unit.fraud.builders import card_payment, usual_history


def test_staff_access_is_audited_and_only_auditors_read_the_trail(settings, token):
    app, handler = fraud_app(settings)
    now = time.time()
    run(handler, records(usual_history("AU", now - 60)))
    assert run(handler, records([card_payment("au1", "AU", 16_000, "T-X", now)]))
    with ServiceThread(app, settings) as svc:
        ops = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token("ops-7", "operator")))
        why = (("x-audit-reason", "case 4711: customer disputes a payment"),)
        seen = ops.GetAlert(fraud_pb2.GetAlertRequest(alert_id="fa-au1"), metadata=why, timeout=10).alert
        assert seen.customer_id == "AU"
        with pytest.raises(grpc.RpcError):
            ops.GetAlert(fraud_pb2.GetAlertRequest(alert_id="fa-missing"), metadata=why, timeout=10)
        ops.ListAlerts(fraud_pb2.ListAlertsRequest(customer_id="AU"), timeout=10)
        # a customer's own reads are not staff access
        fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token("AU"))).ListAlerts(
            fraud_pb2.ListAlertsRequest(customer_id="AU"), timeout=10)

        request = audit_pb2.ListAuditEntriesRequest(customer_id="AU")
        for who, role in (("AU", "customer"), ("ops-7", "operator"), ("adv-1", "advisor")):
            with pytest.raises(grpc.RpcError) as err:
                audit_pb2_grpc.AuditServiceStub(connect(svc.target, token(who, role))).ListAuditEntries(
                    request, timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
        auditor = audit_pb2_grpc.AuditServiceStub(connect(svc.target, token("aud-1", "auditor")))
        entries = auditor.ListAuditEntries(request, timeout=10).entries

    got = sorted((e.actor, e.role, e.action.rsplit("/", 1)[1], e.resource_id, e.reason, e.outcome) for e in entries)
    assert got == [
        ("ops-7", "operator", "GetAlert", "fa-au1", "case 4711: customer disputes a payment", "OK"),
        ("ops-7", "operator", "ListAlerts", "", "", "OK"),
    ]
    assert all(e.service == "fraud" and e.customer_id == "AU" and e.occurred_at.seconds > 0 for e in entries)

    mirrored = read_topic(settings, AUDIT, expect=4)  # the three staff calls and the auditor's own read
    assert len(mirrored) == 4 and {r.key for r in mirrored} == {b"AU", b""}

    with app.store.transaction() as tx, pytest.raises(DBAPIError):  # append-only
        tx.execute("UPDATE audit_log SET actor = 'someone-else'")
    with app.store.transaction() as tx, pytest.raises(DBAPIError):
        tx.execute("DELETE FROM audit_log")
    app.store.close()
