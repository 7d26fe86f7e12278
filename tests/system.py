"""The five services running in this process on one broker (end-to-end and operations tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from services.advice.app import build as build_advice
from services.advisor.app import build as build_advisor
from services.fraud.app import build as build_fraud
from services.mortgage.app import build as build_mortgage
from services.notify.app import build as build_notify
from services.platform.app import ServiceThread
from services.platform.settings import Settings


@contextlib.contextmanager
def whole_system(settings: Settings, model_dir: Path) -> Iterator[dict[str, ServiceThread]]:
    apps = {"fraud": build_fraud(settings, model_dir=model_dir), "notify": build_notify(settings),
            "advice": build_advice(settings), "advisor": build_advisor(settings),
            "mortgage": build_mortgage(settings)}
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(ServiceThread(app, settings)) for name, app in apps.items()}
