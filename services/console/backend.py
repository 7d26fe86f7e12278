"""The gRPC services behind the console (backend-for-frontend): one TLS channel per service, shared by every user,
and the signed-in user's own token on every call (services/platform/client.py).

Where each service is: `<SERVICE>_TARGET` (e.g. `ADVISOR_TARGET=advisor:50054`), by default its `make run` port
on this machine (services/registry.py)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from services.advisor.context import target_of
from services.gen.proactivecare.v1 import (
    advice_pb2_grpc,
    advisor_pb2_grpc,
    fraud_pb2_grpc,
    mortgage_pb2_grpc,
    notify_pb2_grpc,
)
from services.platform.client import auth_metadata, connect_aio
from services.platform.settings import Settings

CALL_TIMEOUT_SECONDS = 10.0


class Backend:
    def __init__(self, settings: Settings, targets: Callable[[str], str] = target_of) -> None:
        self.settings = settings
        self.targets = targets
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self._channels:  # made on first use, on the server's event loop
            self._channels[service] = connect_aio(self.targets(service), settings=self.settings)
        return self._channels[service]

    def advisor(self) -> advisor_pb2_grpc.AdvisorQueueServiceStub:
        return advisor_pb2_grpc.AdvisorQueueServiceStub(self.channel("advisor"))

    def fraud(self) -> fraud_pb2_grpc.FraudServiceStub:
        return fraud_pb2_grpc.FraudServiceStub(self.channel("fraud"))

    def notify(self) -> notify_pb2_grpc.NotificationServiceStub:
        return notify_pb2_grpc.NotificationServiceStub(self.channel("notify"))

    def advice(self) -> advice_pb2_grpc.AdviceServiceStub:
        return advice_pb2_grpc.AdviceServiceStub(self.channel("advice"))

    def mortgage(self) -> mortgage_pb2_grpc.MortgageServiceStub:
        return mortgage_pb2_grpc.MortgageServiceStub(self.channel("mortgage"))

    @staticmethod
    def as_user(token: str) -> dict[str, object]:
        """Per-call keyword arguments: the user's token and a deadline."""
        return {"metadata": auth_metadata(token), "timeout": CALL_TIMEOUT_SECONDS}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
