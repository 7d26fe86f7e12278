"""Attacks on the bearer token, each against a real notify service over TLS: the exact status, and a plain
message that never shows the decoder's internals."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from services.gen.proactivecare.v1 import notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.settings import Settings
from tests.security import attacks

UNAUTHENTICATED, DENIED, OK = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OK
HOUR = 3600

CASES: list[tuple[str, Callable[[Settings, object], str], grpc.StatusCode]] = [
    ("valid", lambda s, _p: attacks.signed(s), OK),
    ("alg none", lambda s, _p: attacks.alg_none(s), UNAUTHENTICATED),
    ("HS256 signed with the public key", lambda s, _p: attacks.hs256_with_public_key(s), UNAUTHENTICATED),
    ("another service's audience", lambda s, _p: attacks.signed(s, aud=s.audience("fraud")), UNAUTHENTICATED),
    ("no audience", lambda s, _p: attacks.signed(s, aud=None), UNAUTHENTICATED),
    ("another issuer", lambda s, _p: attacks.signed(s, iss="https://evil.example/"), UNAUTHENTICATED),
    ("expired", lambda s, _p: attacks.signed(s, exp=int(time.time()) - HOUR), UNAUTHENTICATED),
    ("not yet valid", lambda s, _p: attacks.signed(s, nbf=int(time.time()) + HOUR), UNAUTHENTICATED),
    ("no nbf", lambda s, _p: attacks.signed(s, nbf=None), UNAUTHENTICATED),
    ("no exp", lambda s, _p: attacks.signed(s, exp=None), UNAUTHENTICATED),
    ("unknown role", lambda s, _p: attacks.signed(s, role="superuser"), UNAUTHENTICATED),
    ("unknown kid", lambda s, p: attacks.other_key(s, p / "k1", same_kid=False), UNAUTHENTICATED),
    ("forged under the real kid", lambda s, p: attacks.other_key(s, p / "k2", same_kid=True), UNAUTHENTICATED),
    ("garbage", lambda _s, _p: "not-a-jwt", UNAUTHENTICATED),
    ("header not JSON", lambda _s, _p: "eyJhbGciOiJF.e30.x", UNAUTHENTICATED),
    ("binary header", lambda _s, _p: "t7cx.e30.x", UNAUTHENTICATED),
    ("service without the RPC's scope", lambda s, _p: attacks.signed(s, role="service", scope="notify:Acknowledge"),
     DENIED),
    ("service with the RPC's scope", lambda s, _p: attacks.signed(s, role="service", scope="notify:GetPreferences"),
     OK),
    ("auditor (role not allowed on this RPC)", lambda s, _p: attacks.signed(s, role="auditor"), DENIED),
]


@pytest.fixture
def notify(settings: Settings):
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        yield svc


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_token_attack_gets_the_exact_status(notify, settings, tmp_path):
    for name, make, expected in CASES:
        bad = make(settings, tmp_path)
        with connect(notify.target, bad) as channel:
            stub = notify_pb2_grpc.NotificationServiceStub(channel)
            try:
                stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="A"), timeout=10)
                got, details = OK, ""
            except grpc.RpcError as err:
                got, details = err.code(), err.details() or ""
        assert got == expected, name
        for internal in ("codec", "Invalid header", "Traceback", "Expecting value", "PyJWT", "Signature"):
            assert internal not in details, (name, details)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_missing_token_is_unauthenticated(notify):
    with connect(notify.target) as channel, pytest.raises(grpc.RpcError) as err:
        notify_pb2_grpc.NotificationServiceStub(channel).GetPreferences(
            notify_pb2.GetPreferencesRequest(customer_id="A"), timeout=10)
    assert err.value.code() == UNAUTHENTICATED and err.value.details() == "missing bearer token"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rotated_key_is_fetched_when_a_token_names_it(settings, tmp_path):
    """The provider publishes a new key: a token signed with it is accepted once the JWKS is re-read."""
    import json
    import shutil

    from services.platform.dev_identity import ensure_dev_identity

    jwks = tmp_path / "rotating" / "jwks.json"
    jwks.parent.mkdir()
    shutil.copy(attacks.dev_identity().jwks_path, jwks)
    rotating = settings.with_overrides(auth_jwks_url=jwks.as_uri(), auth_jwks_refresh_cooldown_seconds=0.0)
    new = ensure_dev_identity(tmp_path / "new-key")
    token = new.issue("A", "customer", audience=settings.audience("notify"), issuer=settings.auth_issuer)
    with ServiceThread(SERVICE.build(rotating), rotating) as svc, connect(svc.target, token) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="A"), timeout=10)
        assert err.value.code() == UNAUTHENTICATED
        keys = json.loads(jwks.read_text())["keys"] + json.loads(new.jwks_path.read_text())["keys"]
        jwks.write_text(json.dumps({"keys": keys}))
        answer = stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="A"), timeout=10)
        assert answer.preferences.customer_id == "A"
