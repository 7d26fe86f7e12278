from __future__ import annotations

from collections.abc import Callable

import pytest

from services.advisor.priority import priority
from services.advisor.validation import validate_task
from services.gen.proactivecare.v1 import events_pb2
from services.platform.errors import ValidationError
from tests.unit.advisor.builders import T0, task


def _set(mutate: Callable[[events_pb2.AdvisorTask], object]) -> events_pb2.AdvisorTask:
    t = task()
    mutate(t)
    return t


BAD_TASKS = [
    (lambda t: setattr(t, "id", ""), "task.id"),
    (lambda t: setattr(t, "id", "has space"), "task.id"),
    (lambda t: setattr(t, "customer_id", ""), "task.customer_id"),
    (lambda t: setattr(t, "queue", ""), "task.queue"),
    (lambda t: setattr(t, "queue", "Wealth!"), "task.queue"),
    (lambda t: setattr(t, "kind", ""), "task.kind"),
    (lambda t: t.ClearField("value"), "task.value"),
    (lambda t: setattr(t.value, "currency", "XXX"), "task.value.currency"),
    (lambda t: setattr(t.value, "amount_minor", -1), "task.value.amount_minor"),
    (lambda t: setattr(t, "urgency", 1.5), "task.urgency"),
    (lambda t: t.ClearField("sla_deadline"), "task.sla_deadline"),
    (lambda t: t.ClearField("created_at"), "task.created_at"),
    (lambda t: t.sla_deadline.FromDatetime(T0.replace(year=2020)), "task.sla_deadline"),
]


@pytest.mark.parametrize(("mutate", "field"), BAD_TASKS)
def test_a_bad_task_names_the_field(mutate: Callable[[events_pb2.AdvisorTask], object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_task(_set(mutate))
    assert raised.value.field == field


def test_a_good_task_passes() -> None:
    validate_task(task())


def test_priority_is_value_in_major_units_times_urgency() -> None:
    assert priority(250_000, "GBP", 0.4) == 1000.0
    assert priority(250_000, "JPY", 0.4) == 100_000.0
    assert priority(100, "GBP", 7.0) == 1.0  # urgency is capped at 1
