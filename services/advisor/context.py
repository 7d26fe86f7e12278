"""The case view of a task (`GetTaskContext`): the customer's recent alerts, nudges, notifications and care
options, read from the fraud, advice, notify and mortgage services with the *caller's own token* (the advisor's
authority, not a service super-token: each of those services checks and audits the advisor's read itself).

Where each service is: `<SERVICE>_TARGET` (e.g. `FRAUD_TARGET=fraud:50051`), read when a case is gathered, by
default the `make run` port on this machine (services/registry.py). A source that cannot be read is named in
`unavailable` and the rest is still given: an advisor with half the picture is told which half is missing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from services import registry
from services.gen.proactivecare.v1 import (
    advice_pb2,
    advice_pb2_grpc,
    advisor_pb2,
    common_pb2,
    fraud_pb2,
    fraud_pb2_grpc,
    mortgage_pb2,
    mortgage_pb2_grpc,
    notify_pb2,
    notify_pb2_grpc,
)
from services.platform.client import auth_metadata, connect_aio
from services.platform.settings import Settings

RECENT = 10  # items of each kind in the case view
CALL_TIMEOUT_SECONDS = 5.0
SOURCES = ("fraud", "advice", "notify", "mortgage")


def target_of(service: str) -> str:
    """Where `service` answers: `<SERVICE>_TARGET`, else its `make run` port on this machine."""
    default = next(f"127.0.0.1:{s.grpc_port}" for s in registry.SERVICES if s.name == service)
    return os.environ.get(f"{service.upper()}_TARGET", default)


def _plain(service: str, exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            return f"{service}: nothing on record"
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return f"{service}: not permitted for you"
        return f"{service}: unavailable ({code.name.lower()})"
    return f"{service}: unavailable"


class ContextGatherer:
    """Reads a customer's recent history from the other services, all at once, with the caller's token."""

    def __init__(self, settings: Settings, targets: Callable[[str], str] = target_of) -> None:
        self.settings = settings
        self.targets = targets
        self._channels: dict[str, tuple[str, grpc.aio.Channel]] = {}

    def _channel(self, service: str) -> grpc.aio.Channel:
        target = self.targets(service)
        known = self._channels.get(service)
        if known is None or known[0] != target:
            self._channels[service] = (target, connect_aio(target, settings=self.settings))
        return self._channels[service][1]

    async def gather(self, task: advisor_pb2.QueuedTask, token: str) -> advisor_pb2.GetTaskContextResponse:
        customer = task.task.customer_id
        meta = auth_metadata(token)
        page = common_pb2.PageRequest(page_size=RECENT)
        response = advisor_pb2.GetTaskContextResponse(task=task)

        async def alerts() -> None:
            stub = fraud_pb2_grpc.FraudServiceStub(self._channel("fraud"))
            got = await stub.ListAlerts(fraud_pb2.ListAlertsRequest(customer_id=customer, page=page),
                                        metadata=meta, timeout=CALL_TIMEOUT_SECONDS)
            response.recent_alerts.extend(got.alerts)

        async def nudges() -> None:
            stub = advice_pb2_grpc.AdviceServiceStub(self._channel("advice"))
            got = await stub.ListNudges(advice_pb2.ListNudgesRequest(customer_id=customer, page=page),
                                        metadata=meta, timeout=CALL_TIMEOUT_SECONDS)
            response.recent_nudges.extend(got.nudges)

        async def notifications() -> None:
            stub = notify_pb2_grpc.NotificationServiceStub(self._channel("notify"))
            got = await stub.ListNotifications(notify_pb2.ListNotificationsRequest(customer_id=customer, page=page),
                                               metadata=meta, timeout=CALL_TIMEOUT_SECONDS)
            response.recent_notifications.extend(got.notifications)

        async def care() -> None:
            if task.task.source != "mortgage":  # only a mortgage-care task has options to show
                return
            stub = mortgage_pb2_grpc.MortgageServiceStub(self._channel("mortgage"))
            got = await stub.GetCareOptions(mortgage_pb2.GetCareOptionsRequest(customer_id=customer),
                                            metadata=meta, timeout=CALL_TIMEOUT_SECONDS)
            response.current_monthly_payment.CopyFrom(got.current_monthly_payment)
            response.care_options.extend(got.options)

        readers: dict[str, Callable[[], Awaitable[Any]]] = {
            "fraud": alerts, "advice": nudges, "notify": notifications, "mortgage": care}
        results = await asyncio.gather(*(reader() for reader in readers.values()), return_exceptions=True)
        for service, result in zip(readers, results, strict=True):
            if isinstance(result, BaseException):
                response.unavailable.append(_plain(service, result))
        return response

    async def close(self) -> None:
        for _target, channel in self._channels.values():
            await channel.close()
        self._channels.clear()
