"""Attacks on the bearer token, each against a real notify service over TLS: the exact status, and a plain
message that never shows the decoder's internals."""

from __future__ import annotations

import http.server
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gen.proactivecare.v1 import notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.dev_tls import ensure_dev_tls
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


class _HeldJwks(http.server.BaseHTTPRequestHandler):
    """An identity provider's JWKS endpoint over HTTPS that answers only when the test lets it (`release`)."""

    jwks: bytes = b""
    asked = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).release.wait(60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.jwks)))
        self.end_headers()
        self.wfile.write(self.jwks)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def held_jwks() -> Iterator[tuple[str, type[_HeldJwks]]]:
    """A local HTTPS JWKS server (the session's development CA and key) serving the session's JWKS."""
    tls = ensure_dev_tls(Path(os.environ["PROACTIVE_CARE_TEST_KEYS"]) / "dev-tls")
    handler = type("HeldJwks", (_HeldJwks,), {"jwks": attacks.dev_identity().jwks_path.read_bytes(),
                                              "asked": threading.Event(), "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.server_cert_file), str(tls.server_key_file))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_jwks_fetch_for_an_unknown_kid_does_not_stall_other_calls(settings, held_jwks, tmp_path):
    """A token names a key the service has not seen: the JWKS is fetched over HTTPS from a provider that holds its
    answer. Meanwhile a health check and a call with an already verified token are answered."""
    url, jwks = held_jwks
    over_https = settings.with_overrides(auth_jwks_url=url, auth_jwks_ca_file=os.environ["GRPC_TLS_CA_FILE"],
                                         auth_jwks_refresh_cooldown_seconds=0.0, auth_jwks_timeout_seconds=90.0)
    known = attacks.signed(settings)
    unknown = attacks.other_key(settings, tmp_path / "unpublished", same_kid=False)
    request = notify_pb2.GetPreferencesRequest(customer_id="A")
    with ServiceThread(SERVICE.build(over_https), over_https) as svc, connect(svc.target, known) as channel, \
            connect(svc.target, unknown) as held_channel, ThreadPoolExecutor(1) as caller:
        jwks.release.set()  # the first token's key is fetched at once
        assert notify_pb2_grpc.NotificationServiceStub(channel).GetPreferences(request, timeout=10)
        jwks.release.clear()
        jwks.asked.clear()

        held = caller.submit(notify_pb2_grpc.NotificationServiceStub(held_channel).GetPreferences, request,
                             timeout=60)
        assert jwks.asked.wait(30)  # the service is fetching the JWKS, and the provider holds its answer
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        assert notify_pb2_grpc.NotificationServiceStub(channel).GetPreferences(request, timeout=10)
        assert not held.done() and not jwks.release.is_set()  # both answered while the fetch was held

        jwks.release.set()
        with pytest.raises(grpc.RpcError) as err:
            held.result(timeout=60)
        assert err.value.code() == UNAUTHENTICATED and "unknown key" in str(err.value.details())


def _health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
