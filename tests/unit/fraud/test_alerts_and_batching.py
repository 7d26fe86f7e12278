import asyncio
import datetime as dt
import threading

import pytest

from services.fraud.alerts import AlertRecord, AlertStatus, resolve
from services.fraud.batching import MicroBatcher
from services.platform.errors import FailedPreconditionError

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


def open_alert() -> AlertRecord:
    return AlertRecord(id="fa-1", customer_id="c1", transaction_id="1", card_token="card-1", terminal_id="t1",
                       merchant_id="", mcc="", amount_minor=15000, currency="EUR", score=0.9, decision=3,
                       reasons=[("AMOUNT_VS_USUAL", "5x your usual amount", 0.8)], status=AlertStatus.OPEN,
                       created_at=NOW, resolved_at=None, card_frozen=False, transaction_time=NOW)


def test_confirmed_fraud_freezes_the_card() -> None:
    updated, changed = resolve(open_alert(), True, NOW)
    assert changed and updated.status is AlertStatus.CONFIRMED_FRAUD and updated.card_frozen
    assert updated.resolved_at == NOW


def test_genuine_answer_does_not_freeze() -> None:
    updated, _ = resolve(open_alert(), False, NOW)
    assert updated.status is AlertStatus.CONFIRMED_GENUINE and not updated.card_frozen


def test_same_answer_again_changes_nothing_and_a_different_one_is_refused() -> None:
    answered, _ = resolve(open_alert(), True, NOW)
    again, changed = resolve(answered, True, NOW + dt.timedelta(minutes=1))
    assert not changed and again == answered
    with pytest.raises(FailedPreconditionError):
        resolve(answered, False, NOW)


def test_concurrent_calls_share_one_batch_call() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        gate.wait(1)
        return [i * 10 for i in items]

    async def main() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)  # the first call is in flight; the next 16 queue behind it
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 17)]
        await asyncio.sleep(0.05)
        gate.set()
        return [await first, *[await t for t in rest]]

    results = asyncio.run(main())
    assert results == [i * 10 for i in range(17)]
    assert calls == [[0], list(range(1, 17))]


def test_a_failed_batch_fails_each_of_its_callers() -> None:
    def run(items: list[int]) -> list[int]:
        raise RuntimeError("model unavailable")

    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(run)
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)

    asyncio.run(main())
