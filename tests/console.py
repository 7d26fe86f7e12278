"""The console (services/console) served by uvicorn on a free port in this process, in front of services running
in this process (tests/system.py): what the console's integration and browser tests talk to over real HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import uvicorn

from services.console.app import create_app
from services.devtools.kafka_launcher import free_port
from services.platform.settings import Settings


@contextlib.contextmanager
def console_server(settings: Settings, targets: Callable[[str], str]) -> Iterator[str]:
    """The console's base URL (http://127.0.0.1:<port>) while the block runs."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, targets), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
