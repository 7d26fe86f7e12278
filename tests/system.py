"""The five services running in this process on one broker (end-to-end and operations tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from services import registry
from services.platform.app import ServiceThread
from services.platform.settings import Settings


@contextlib.contextmanager
def whole_system(settings: Settings, model_dir: Path) -> Iterator[dict[str, ServiceThread]]:
    """Every registered service (services/registry.py); fraud with the session's small model."""
    extra = {"fraud": {"model_dir": model_dir}}
    apps = {name: registry.service(name).build(settings, **extra.get(name, {})) for name in registry.NAMES}
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(ServiceThread(app, settings)) for name, app in apps.items()}
