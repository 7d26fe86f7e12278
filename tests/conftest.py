"""Fixtures every suite shares: development-mode security, and the store on both backends.

Every test process runs in development mode with TLS on: one development identity provider (key pair + JWKS)
and one development CA are made per test session, and the environment points every `Settings.from_env()` (and
every child process) at them.

`backend` runs a test once on SQLite and once on PostgreSQL (the embedded server, started once per session
and only when a PostgreSQL case runs; `TEST_DATABASE_URL` points at another server instead). `open_store(name)`
opens a fresh store of the test's backend: a file in the test's directory, or a schema of its own.
"""

from __future__ import annotations

import os

# gRPC's fork handlers are off in the test process (before anything imports grpc): the replica test restarts
# PostgreSQL (pg_ctl, forked with a user switch) while Subscribe streams are open, and with them on, gRPC C-core
# aborted the whole run ("ev_epoll1_linux.cc: Check failed: next_worker->state == KICKED"). Nothing here forks a
# process that then uses gRPC; service processes are started with exec.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.devtools.postgres_launcher import EmbeddedPostgres
from services.platform.dev_identity import DEV_ISSUER, ensure_dev_identity
from services.platform.dev_tls import ensure_dev_tls
from services.platform.storage import Store

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    keys = Path(tempfile.mkdtemp(prefix="proactive-care-keys-"))
    identity = ensure_dev_identity(keys / "dev-identity")
    tls = ensure_dev_tls(keys / "dev-tls")
    os.environ.update({
        "PROACTIVE_CARE_ENV": "development", "AUTH_JWKS_URL": identity.jwks_url, "AUTH_ISSUER": DEV_ISSUER,
        "TLS_CERT_FILE": str(tls.server_cert_file), "TLS_KEY_FILE": str(tls.server_key_file),
        "GRPC_TLS_CA_FILE": str(tls.ca_file), "PROACTIVE_CARE_TEST_KEYS": str(keys)})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL", "")
    if given:
        yield given
        return
    # not under pytest's temporary root: as root the server runs as another user, who must reach its data dir
    directory = Path(tempfile.mkdtemp(prefix="proactive-care-pg-"))
    directory.chmod(0o755)
    server = EmbeddedPostgres(directory, ephemeral=True)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The test's database URL ("" on SQLite: each service its own file in the test's data dir)."""
    return str(request.getfixturevalue("postgres_url")) if backend == "postgresql" else ""


@pytest.fixture
def open_store(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    run = uuid.uuid4().hex[:8]
    opened: list[Store] = []

    def open_(name: str) -> Store:
        store = (Store.open(database_url, schema=f"t{run}_{name}") if database_url
                 else Store.open(tmp_path / f"{name}.sqlite"))
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
