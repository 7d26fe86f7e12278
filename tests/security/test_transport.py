"""TLS on every gRPC port: plaintext to a TLS port fails, mutual TLS refuses a client without a certificate,
/metrics stays on loopback or serves TLS with client certificates, reflection can be switched off."""

from __future__ import annotations

import ssl
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.notify.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.dev_tls import ensure_dev_tls
from services.platform.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_plaintext_to_a_tls_port_fails_and_tls_works(settings: Settings):
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        with grpc.insecure_channel(svc.target) as plain, pytest.raises(grpc.RpcError) as err:
            _health(plain)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with connect(svc.target) as channel:
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        assert svc.running is not None
        assert svc.running._metrics_server.server_address[0] == "127.0.0.1"  # /metrics on loopback


def test_a_server_certificate_from_another_ca_is_not_trusted(settings: Settings, tmp_path):
    other = ensure_dev_tls(tmp_path / "other-ca")
    untrusting = settings.with_overrides(grpc_tls_ca_file=str(other.ca_file))
    with ServiceThread(SERVICE.build(settings), settings) as svc, connect(svc.target, settings=untrusting) as channel, \
            pytest.raises(grpc.RpcError) as err:
        _health(channel)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate(settings: Settings, tmp_path):
    ca = ensure_dev_tls(tmp_path / "mtls")
    mtls = settings.with_overrides(tls_cert_file=str(ca.server_cert_file), tls_key_file=str(ca.server_key_file),
                                   tls_client_ca_file=str(ca.ca_file), grpc_tls_ca_file=str(ca.ca_file))
    with ServiceThread(SERVICE.build(mtls), mtls) as svc:
        with connect(svc.target, settings=mtls) as anonymous, pytest.raises(grpc.RpcError) as err:
            _health(anonymous)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with_cert = mtls.with_overrides(grpc_tls_client_cert_file=str(ca.client_cert_file),
                                        grpc_tls_client_key_file=str(ca.client_key_file))
        with connect(svc.target, settings=with_cert) as channel:
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_reflection_can_be_switched_off(settings: Settings):
    quiet = settings.with_overrides(grpc_reflection=False)
    with ServiceThread(SERVICE.build(quiet), quiet) as svc, connect(svc.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _scrape(port: int, context: ssl.SSLContext | None) -> str:
    scheme = "https" if context is not None else "http"
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/metrics", context=context, timeout=10) as answer:
        return answer.read().decode()


def test_metrics_over_tls_answer_only_a_scraper_with_a_client_certificate(settings: Settings, tmp_path):
    ca = ensure_dev_tls(tmp_path / "metrics-ca")
    secured = settings.with_overrides(metrics_tls_cert_file=str(ca.server_cert_file),
                                      metrics_tls_key_file=str(ca.server_key_file),
                                      metrics_tls_client_ca_file=str(ca.ca_file))
    with ServiceThread(SERVICE.build(secured), secured) as svc:
        assert svc.running is not None
        port = svc.running.metrics_port
        scraper = ssl.create_default_context(cafile=str(ca.ca_file))
        scraper.load_cert_chain(str(ca.client_cert_file), str(ca.client_key_file))
        assert "grpc_server_started_total" in _scrape(port, scraper)

        anonymous = ssl.create_default_context(cafile=str(ca.ca_file))  # trusts the server, shows no certificate
        with pytest.raises(OSError):  # ssl.SSLError or a reset (URLError is an OSError too)
            _scrape(port, anonymous)
        with pytest.raises(OSError):  # plain HTTP to the TLS port
            _scrape(port, None)
        assert "grpc_server_started_total" in _scrape(port, scraper)  # the refusals did not stop the server


def test_metrics_without_tls_settings_stay_plain_http_on_loopback(settings: Settings):
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        assert svc.running is not None
        assert "grpc_server_started_total" in _scrape(svc.running.metrics_port, None)

