"""Time to notify through the real pipeline at 1,000 transactions a second.

simulator transactions --(Kafka, paced)--> fraud worker --`notifications`--> notify gateway --Subscribe-->
bank-app streams (every customer subscribed). Time to notify = delivery on the stream minus the produce time
of the transaction that caused it (the Kafka record timestamp the fraud worker copies into the alert).
Fraud and notify run as their own processes (`proactive-care serve`), as they are deployed; the producer and
the subscribers share this process."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from services.gen.proactivecare.v1 import events_pb2, notify_pb2, notify_pb2_grpc
from services.platform import auth, security
from services.platform.client import auth_metadata, connect_aio
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings
from services.platform.topics import TRANSACTIONS
from tests.perf.common import bench_settings, fraud_model_dir, serve_process, simulated_transactions

RATE = 1_000  # transactions per second
SECONDS = 30
TICK = 0.01


def _produce_paced(settings: Settings, txs: list[events_pb2.Transaction], rate: float) -> float:
    """Send at `rate` per second in 10 ms ticks; returns the achieved rate."""
    producer = make_producer(settings)
    topic = settings.topic(TRANSACTIONS)
    per_tick = max(1, int(rate * TICK))
    started = time.perf_counter()
    for i in range(0, len(txs), per_tick):
        for tx in txs[i:i + per_tick]:
            producer.send(topic, key=tx.customer_id.encode(), value=tx.SerializeToString())
        due = started + (i + per_tick) / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    producer.flush()
    achieved = len(txs) / (time.perf_counter() - started)
    producer.close()
    return achieved


async def _subscribe_all(target: str, settings: Settings, customers: list[str], latencies: list[float],
                         ready: threading.Event, stop: asyncio.Event) -> None:
    async with connect_aio(target, settings=settings) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)

        async def one(customer: str) -> None:
            token = security.issue_dev_token(settings, customer, auth.Role.CUSTOMER, services=("notify",))
            call = stub.Subscribe(notify_pb2.SubscribeRequest(customer_id=customer), metadata=auth_metadata(token))
            async for item in call:
                origin = item.delivered.notification.origin_produced_at_ms
                if origin:
                    latencies.append(time.time() * 1000 - origin)

        tasks = [asyncio.create_task(one(c)) for c in customers]
        await asyncio.sleep(1.0)
        ready.set()
        await stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run(base: Settings) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, bench_settings(base, Path(tmp)) as settings:
        model_dir = fraud_model_dir(Path(tmp))
        txs = simulated_transactions(RATE * SECONDS, customers=1_000)
        customers = sorted({tx.customer_id for tx in txs})
        latencies: list[float] = []
        with serve_process(settings, "fraud", model_dir), serve_process(settings, "notify", model_dir) as notify:
            loop = asyncio.new_event_loop()
            ready, stop = threading.Event(), asyncio.Event()
            client = threading.Thread(target=loop.run_until_complete, args=(_subscribe_all(
                notify.target, settings, customers, latencies, ready, stop),), daemon=True)
            client.start()
            ready.wait(60)
            achieved = _produce_paced(settings, txs, RATE)
            time.sleep(5)  # let the tail arrive
            loop.call_soon_threadsafe(stop.set)
            client.join(30)
    ms = np.array(latencies) if latencies else np.array([float("nan")])
    return {
        "notify_transactions": len(txs),
        "notify_produce_rate_per_s": round(achieved, 1),
        "notify_subscribers": len(customers),
        "notify_alerts_delivered": len(latencies),
        "time_to_notify_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "time_to_notify_p99_ms": round(float(np.percentile(ms, 99)), 1),
        "time_to_notify_max_ms": round(float(np.max(ms)), 1),
    }
