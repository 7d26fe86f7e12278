"""The development certificate authority: a CA, a server certificate for this machine and a client certificate.

Development mode (`make run`, the tests) runs gRPC with TLS on, as production does, so the same code path is
exercised everywhere; the certificates are made once under `<data_dir>/dev-tls/` with the `cryptography`
package. A deployment brings its own (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE, GRPC_TLS_CA_FILE).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.platform.clock import utc_now

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class DevTls:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert_file(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client-key.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "proactive-care development"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, common_name: str, *, server: bool,
           hosts: Sequence[str] = ()) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utc_now()
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), *(x509.DNSName(h) for h in hosts if h != "localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]),
            critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def ensure_dev_tls(directory: Path, hosts: Sequence[str] = ()) -> DevTls:
    """The development CA and certificates in `directory`, made on first use. The server certificate is for
    localhost, 127.0.0.1 and ::1, and the DNS names `hosts` (a compose stack's service names)."""
    tls = DevTls(directory)
    if all(p.exists() for p in (tls.ca_file, tls.server_cert_file, tls.server_key_file, tls.client_cert_file,
                                tls.client_key_file)):
        return tls
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("proactive-care development CA")
    now = utc_now()
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + VALIDITY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_cert, server_key = _issue(ca_key, ca_name, "localhost", server=True, hosts=hosts)
    client_cert, client_key = _issue(ca_key, ca_name, "proactive-care-dev-client", server=False)
    _write(tls.server_cert_file, server_cert)
    _write(tls.server_key_file, server_key, 0o600)
    _write(tls.client_cert_file, client_cert)
    _write(tls.client_key_file, client_key, 0o600)
    _write(tls.ca_file, ca.public_bytes(serialization.Encoding.PEM))  # last: its presence means "complete"
    return tls
