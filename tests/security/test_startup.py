"""Outside development mode a service refuses to start, with one clear line and no traceback, when it has no
JWKS, when the JWKS holds the development key, or when it would listen beyond loopback without TLS; and the
`token` command signs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from services import cli
from services.platform import security
from services.platform.dev_identity import ensure_dev_identity
from services.platform.dev_tls import ensure_dev_tls
from services.platform.settings import Settings

TEST_ONLY = ("PROACTIVE_CARE_ENV", "AUTH_JWKS_URL", "AUTH_ISSUER", "TLS_CERT_FILE", "TLS_KEY_FILE",
             "GRPC_TLS_CA_FILE", "KAFKA_BOOTSTRAP_SERVERS")


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    # a closed port: a service that got past its checks would fail on the broker, not hang on it
    env.update({"PROACTIVE_CARE_DATA_DIR": str(tmp_path / "data"), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
                "GRPC_PORT": "0", "METRICS_PORT": "0"})
    env.update(extra)
    return env


def _bank_jwks(tmp_path: Path) -> Path:
    """A JWKS like a bank's provider publishes: a key id that is not the development one."""
    identity = ensure_dev_identity(tmp_path / "bank-idp")
    jwks = json.loads(identity.jwks_path.read_text())
    jwks["keys"][0]["kid"] = "bank-2026-11"
    path = tmp_path / "bank-jwks.json"
    path.write_text(json.dumps(jwks))
    return path


def _serve(env: dict[str, str], service: str = "fraud") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "serve", service], env=env, capture_output=True,
                          text=True, timeout=120)


def test_serve_fraud_without_a_jwks_exits_with_one_clear_line(tmp_path):
    """As deployed: `proactive-care serve fraud` in production mode with no identity provider configured."""
    done = _serve(_production_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "refusing to start: AUTH_JWKS_URL is not set (the identity provider's JWKS: an https:// URL or a file); "
        "PROACTIVE_CARE_ENV=development only for development"]
    assert done.stdout == ""


@pytest.mark.parametrize(("case", "expected"), [
    ("no jwks", "AUTH_JWKS_URL is not set"),
    ("no issuer", "AUTH_ISSUER is not set"),
    ("unreadable jwks", "could not be read"),
    ("http jwks", "must be https:// or a file"),
    ("development key", "the JWKS holds the development key"),
    ("public address without tls", "without TLS"),
    ("certificate without key", "go together"),
    ("metrics certificate without key", "METRICS_TLS_CERT_FILE and METRICS_TLS_KEY_FILE go together"),
    ("metrics client ca without tls", "METRICS_TLS_CLIENT_CA_FILE needs METRICS_TLS_CERT_FILE"),
    ("missing metrics certificate", "METRICS_TLS_CERT_FILE"),
])
def test_a_production_configuration_is_refused_before_serving(tmp_path, case, expected):
    bank = str(_bank_jwks(tmp_path))
    dev = str(ensure_dev_identity(tmp_path / "dev-idp").jwks_path)
    issuer = "https://idp.bank"
    changes = {
        "no jwks": {},
        "no issuer": {"auth_jwks_url": bank},
        "unreadable jwks": {"auth_jwks_url": str(tmp_path / "missing.json"), "auth_issuer": issuer},
        "http jwks": {"auth_jwks_url": "http://idp.bank/jwks", "auth_issuer": issuer},
        "development key": {"auth_jwks_url": dev, "auth_issuer": issuer},
        "public address without tls": {"auth_jwks_url": bank, "auth_issuer": issuer, "grpc_host": "0.0.0.0"},
        "certificate without key": {"auth_jwks_url": bank, "auth_issuer": issuer, "tls_cert_file": bank},
        "metrics certificate without key": {"auth_jwks_url": bank, "auth_issuer": issuer,
                                            "metrics_tls_cert_file": bank},
        "metrics client ca without tls": {"auth_jwks_url": bank, "auth_issuer": issuer,
                                          "metrics_tls_client_ca_file": bank},
        "missing metrics certificate": {"auth_jwks_url": bank, "auth_issuer": issuer,
                                        "metrics_tls_cert_file": str(tmp_path / "missing.pem"),
                                        "metrics_tls_key_file": bank},
    }[case]
    settings = Settings(data_dir=tmp_path, environment="production").with_overrides(**changes)
    with pytest.raises(security.StartupRefused) as refused:
        security.check_startup(security.resolve(settings))
    assert str(refused.value).startswith("refusing to start") and expected in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_bank_jwks_with_tls_on_a_public_address_is_accepted(tmp_path):
    tls = ensure_dev_tls(tmp_path / "tls")
    settings = Settings(data_dir=tmp_path, environment="production", auth_jwks_url=str(_bank_jwks(tmp_path)),
                        auth_issuer="https://idp.bank", grpc_host="0.0.0.0", tls_cert_file=str(tls.server_cert_file),
                        tls_key_file=str(tls.server_key_file))
    security.check_startup(settings)  # no exception
    assert not (tmp_path / "dev-identity").exists()  # production never makes a development key


def test_the_token_command_refuses_outside_development(tmp_path):
    done = subprocess.run([sys.executable, "-m", "services.cli", "token", "--subject", "ops", "--role", "operator"],
                          env=_production_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "development mode" in done.stderr and "Traceback" not in done.stderr


def test_the_token_command_signs_with_the_development_key_in_development(tmp_path, monkeypatch, capsys):
    for name, value in _production_env(tmp_path, PROACTIVE_CARE_ENV="development").items():
        monkeypatch.setenv(name, value)
    for name in TEST_ONLY[1:6]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli.logs, "configure", lambda _name: None)  # the test process keeps its logging
    monkeypatch.setattr(cli.tracing, "configure", lambda _name: None)
    assert cli.main(["token", "--subject", "C1", "--role", "customer", "--service", "notify"]) == 0
    token = capsys.readouterr().out.strip()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"].startswith("proactive-care-dev-")
    assert claims["aud"] == ["proactive-care/notify"] and claims["exp"] - claims["iat"] <= 900
    assert (tmp_path / "data" / "dev-identity" / "jwks.json").exists()
    assert "acr" not in claims and "auth_time" not in claims

    # --step-up: the holder has just authenticated strongly, as UnfreezeCard asks of a customer
    assert cli.main(["token", "--subject", "C1", "--role", "customer", "--service", "fraud", "--step-up"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["acr"] == "urn:openbanking:psd2:sca" and "mfa" in claims["amr"]
    assert claims["iat"] - 5 <= claims["auth_time"] <= claims["iat"]
