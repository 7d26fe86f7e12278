"""The bridge between the v1 wire names (prefixed, buf STANDARD) and the short names stored and shown."""

import pytest

from services.gen.proactivecare.v1 import advice_pb2, events_pb2, fraud_pb2, mortgage_pb2
from services.platform import enums


@pytest.mark.parametrize(("enum", "value", "short"), [
    (events_pb2.NotificationKind, events_pb2.NOTIFICATION_KIND_FRAUD_ALERT, "FRAUD_ALERT"),
    (events_pb2.Channel, events_pb2.CHANNEL_CARD_NOT_PRESENT, "CARD_NOT_PRESENT"),
    (events_pb2.TransactionStatus, events_pb2.TRANSACTION_STATUS_RETURNED, "RETURNED"),
    (fraud_pb2.Decision, fraud_pb2.DECISION_BLOCK, "BLOCK"),
    (advice_pb2.NudgeResponse, advice_pb2.NUDGE_RESPONSE_NOT_HELPFUL, "NOT_HELPFUL"),
    (mortgage_pb2.EligibilityOutcome, mortgage_pb2.ELIGIBILITY_OUTCOME_REFER, "REFER"),
    (events_pb2.Priority, events_pb2.PRIORITY_UNSPECIFIED, "UNSPECIFIED"),
])
def test_short_names_round_trip(enum, value, short):
    assert enums.short_name(enum, value) == short
    assert enums.value_of(enum, short) == value
    assert enums.value_of(enum, enum.Name(value)) == value  # the full wire name is accepted too


def test_every_value_of_every_enum_carries_its_prefix_so_short_names_are_unique_within_the_enum():
    for module in (events_pb2, fraud_pb2, advice_pb2, mortgage_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            wrapper = getattr(module, enum.name)
            names = enums.short_names(wrapper)
            assert names[0] == "UNSPECIFIED" and len(set(names)) == len(names)


@pytest.mark.parametrize("bad", ["FRAUD", "fraud_alert", "", "PRIORITY_HIGH"])
def test_unknown_names_and_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        enums.value_of(events_pb2.NotificationKind, bad)
    with pytest.raises(ValueError):
        enums.short_name(events_pb2.NotificationKind, 99)
