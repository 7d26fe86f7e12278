"""Pure pieces of the kernel: validation, money, tokens, idempotent-effect bookkeeping, output encoding."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform import auth
from services.platform.dev_identity import DEV_ISSUER, DevIdentity, ensure_dev_identity
from services.platform.errors import PermissionDeniedError, ValidationError
from services.platform.kafka_io import Output, decode_outputs, encode_outputs
from services.platform.money import format_money
from services.platform.pan import may_any_hold_pan
from services.platform.storage import claim_events, prune_processed, save_outputs, stored_outputs
from services.platform.validation import (
    event_times_within,
    transactions_valid,
    validate_notification,
    validate_transaction,
)
from tests import factories

GBP = "GBP"


BAD_TRANSACTIONS = [
    ({"id": ""}, "transaction.id", "missing_id"),
    ({"id": "x" * 129}, "transaction.id", "invalid_id"),
    ({"customer_id": ""}, "transaction.customer_id", "missing_customer_id"),
    ({"amount": common_pb2.Money(amount_minor=-1, currency=GBP), "direction": events_pb2.DIRECTION_CREDIT},
     "transaction.amount.amount_minor", "negative_amount"),
    ({"amount": common_pb2.Money(amount_minor=100, currency="XXY")}, "transaction.amount.currency",
     "unknown_currency"),
    ({"amount": common_pb2.Money(amount_minor=100, currency="")}, "transaction.amount.currency", "missing_currency"),
    ({"amount": common_pb2.Money(amount_minor=10**15, currency=GBP)}, "transaction.amount.amount_minor",
     "amount_out_of_range"),
    ({"direction": events_pb2.DIRECTION_UNSPECIFIED}, "transaction.direction", "missing_direction"),
    ({"channel": events_pb2.CHANNEL_UNSPECIFIED}, "transaction.channel", "missing_channel"),
    ({"balance_after": common_pb2.Money(amount_minor=-5, currency="EUR")}, "transaction.balance_after.currency",
     "currency_mismatch"),
    ({"card_token": "4111 1111 1111 1111"}, "transaction.card_token", "pan_detected"),
    ({"id": "tx\n1"}, "transaction.id", "invalid_id"),
    ({"customer_id": "c" * 129}, "transaction.customer_id", "invalid_customer_id"),
    ({"balance_after": common_pb2.Money(amount_minor=-10**15, currency=GBP)}, "transaction.balance_after.amount_minor",
     "amount_out_of_range"),
    ({"balance_after": common_pb2.Money(amount_minor=5, currency="")}, "transaction.balance_after.currency",
     "missing_currency"),
]


@pytest.mark.parametrize(("overrides", "field", "reason"), BAD_TRANSACTIONS)
def test_a_bad_transaction_names_its_field_and_reason(overrides, field, reason):
    with pytest.raises(ValidationError) as err:
        validate_transaction(factories.transaction(**overrides))
    assert (err.value.field, err.value.reason) == (field, reason)


def _without(field: str) -> events_pb2.Transaction:
    tx = factories.transaction()
    tx.ClearField(field)
    return tx


def _default_balance() -> events_pb2.Transaction:
    tx = _without("balance_after")
    tx.balance_after.SetInParent()  # set, but with no currency: a mismatch, unlike an unset one
    return tx


@pytest.mark.parametrize("bad", [factories.transaction(**o) for o, _field, _reason in BAD_TRANSACTIONS]
                         + [_without("amount"), _without("timestamp"), _default_balance()])
def test_a_batch_with_one_bad_transaction_is_not_valid_as_a_whole(bad):
    with pytest.raises(ValidationError):
        validate_transaction(bad)
    good = factories.transaction()
    assert transactions_valid([good, good]) is True
    assert transactions_valid([good, bad, good]) is False
    assert transactions_valid([bad]) is False


def test_a_batch_of_good_transactions_is_valid_with_or_without_balances_and_in_several_currencies():
    batch = [factories.transaction(), _without("balance_after"),
             factories.transaction(balance_after=common_pb2.Money(amount_minor=-5000, currency=GBP)),
             factories.transaction(amount=common_pb2.Money(amount_minor=100, currency="EUR"),
                                   balance_after=common_pb2.Money(amount_minor=100, currency="EUR"))]
    for tx in batch:
        validate_transaction(tx)
    assert transactions_valid(batch) is True
    assert transactions_valid([]) is True
    # a card token as long as a card number is judged record by record (the Luhn check): valid, but not at once
    long_token = factories.transaction(card_token="4111111111111112")
    validate_transaction(long_token)
    assert transactions_valid([*batch, long_token]) is False


@pytest.mark.parametrize(("records", "may"), [
    ([b"tx-1 paid", b"coffee 4111 1111 1111 1111"], True),
    ([b"ref 123456", b"7890123 more"], False),  # two runs of digits never join across records
    ([b"", b"short"], False),
    ([], False),
])
def test_a_batch_first_look_for_card_numbers_is_a_superset_never_joining_records(records, may):
    assert may_any_hold_pan(records) is may


def test_a_good_transaction_passes_including_an_overdrawn_balance_and_a_non_luhn_token():
    validate_transaction(factories.transaction(balance_after=common_pb2.Money(amount_minor=-5000, currency=GBP)))
    validate_transaction(factories.transaction(card_token="4111111111111112"))  # 16 digits, fails Luhn


def test_a_notification_without_reasons_is_refused():
    n = factories.notification()
    del n.reasons[:]
    with pytest.raises(ValidationError) as err:
        validate_notification(n)
    assert err.value.field == "notification.reasons"


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (123456, "GBP", "£1,234.56"), (-5, "EUR", "-€0.05"), (1000, "JPY", "¥1,000"), (1234, "KWD", "1.234 KWD"),
])
def test_money_reads_the_way_a_customer_reads_it(minor, currency, text):
    assert format_money(minor, currency) == text


def _verifier(identity_dir: Path, audience: str = "proactive-care/fraud") -> auth.TokenVerifier:
    identity = ensure_dev_identity(identity_dir)
    return auth.TokenVerifier(identity.jwks_url, issuer=DEV_ISSUER, audience=audience)


def test_a_token_carries_subject_role_queues_and_scopes_and_a_forged_one_is_refused(tmp_path):
    identity = ensure_dev_identity(tmp_path / "idp")
    verifier = _verifier(tmp_path / "idp")
    token = identity.issue("adv-7", "advisor", audience="proactive-care/fraud", queues=["wealth"],
                           scopes=["fraud:GetAlert"])
    principal = verifier.verify(token)
    assert (principal.subject, principal.role, principal.queues, principal.scopes) == (
        "adv-7", auth.Role.ADVISOR, frozenset({"wealth"}), frozenset({"fraud:GetAlert"}))
    forger = DevIdentity(ensure_dev_identity(tmp_path / "forger").directory, identity.kid)
    with pytest.raises(auth.AuthError, match="signature"):
        verifier.verify(forger.issue("adv-7", "advisor", audience="proactive-care/fraud"))
    with pytest.raises(auth.AuthError, match="not issued for this service"):
        _verifier(tmp_path / "idp", "proactive-care/notify").verify(token)


def test_require_customer_and_require_queue():
    token = auth.set_principal(auth.Principal("C1", auth.Role.CUSTOMER))
    try:
        auth.require_customer("C1")
        with pytest.raises(PermissionDeniedError):
            auth.require_customer("C2")
        with pytest.raises(PermissionDeniedError):
            auth.require_queue("wealth")
    finally:
        auth.reset_principal(token)
    token = auth.set_principal(auth.Principal("adv", auth.Role.ADVISOR, frozenset({"wealth"})))
    try:
        auth.require_queue("wealth")
        with pytest.raises(PermissionDeniedError):
            auth.require_queue("mortgage-care")
    finally:
        auth.reset_principal(token)


def test_claiming_event_ids_returns_only_the_new_ones_and_replays_stored_outputs(open_store):
    store = open_store("s")
    out = [Output("notifications", "C1", b"\x00\x01payload", (("h", b"v"),))]
    with store.transaction() as tx:
        assert claim_events(tx, "g", ["a", "b"]) == {"a", "b"}
        save_outputs(tx, "g", [("a", encode_outputs(out))])
    with store.transaction() as tx:
        assert claim_events(tx, "g", ["a", "c"]) == {"c"}
        assert claim_events(tx, "other-group", ["a"]) == {"a"}  # each consumer has its own record
        assert [decode_outputs(b) for b in stored_outputs(tx, "g", ["a", "b"])] == [out]
    with store.transaction() as tx:
        assert prune_processed(tx, "g", 1.0) == 0  # all recent
        tx.execute("UPDATE processed_events SET processed_at = :at WHERE event_id = 'a'",
                   {"at": datetime(2020, 1, 1, tzinfo=UTC)})
        assert prune_processed(tx, "g", 1.0) == 1
        assert claim_events(tx, "g", ["a"]) == {"a"}  # forgotten after the retention


def test_a_failed_transaction_claims_nothing(open_store):
    store = open_store("s")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        claim_events(tx, "g", ["a"])
        raise RuntimeError("handler failed")
    with store.transaction() as tx:
        assert claim_events(tx, "g", ["a"]) == {"a"}


def test_a_remembered_token_still_expires(tmp_path):
    identity = ensure_dev_identity(tmp_path / "idp")
    verifier = auth.TokenVerifier(identity.jwks_url, issuer=DEV_ISSUER, audience="a", leeway_seconds=0)
    short = identity.issue("C1", "customer", audience="a", ttl_seconds=3)  # at least 2 s of life left below
    assert verifier.verify(short).subject == "C1"
    assert verifier.verify(short).subject == "C1"  # from the cache
    expires = jwt.decode(short, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    with pytest.raises(auth.AuthError, match="expired"):
        verifier.verify(short)


def test_a_kafka_cluster_id_never_reads_as_an_option():
    from services.devtools.kafka_launcher import _cluster_id

    ids = [_cluster_id() for _ in range(5000)]  # about 1 in 64 raw draws starts with '-'
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(("value", "field", "reason"), [
    ("", "customer_id", "missing_customer_id"),
    ("x" * 129, "customer_id", "invalid_customer_id"),
    ("C1\n", "task.customer_id", "invalid_customer_id"),
    ("", "transaction.id", "missing_id"),
    ("\x00", "nudge_id", "invalid_nudge_id"),
])
def test_one_id_rule_names_the_field_and_reason(value, field, reason):
    from services.platform.validation import require_id

    with pytest.raises(ValidationError) as err:
        require_id(value, field)
    assert (err.value.field, err.value.reason) == (field, reason)


def test_an_id_within_the_rule_passes():
    from services.platform.validation import require_id

    for value in ("C1", "x" * 128, "alert:tx-1_2.3", "ü-customer"):
        require_id(value, "customer_id")


def test_keyset_pages_walk_a_list_newest_first_and_end_with_an_empty_token():
    from services.platform.paging import cut_keyset, read_keyset

    keys = list(range(10, 0, -1))  # newest first, as a customer's notifications
    seen, page = [], common_pb2.PageRequest(page_size=4)
    while True:
        before, size = read_keyset(page)
        rows = [k for k in keys if before is None or k < before][:size + 1]
        rows, response = cut_keyset(rows, size, lambda k: k)
        seen += rows
        if not response.next_page_token:
            break
        page = common_pb2.PageRequest(page_size=4, page_token=response.next_page_token)
    assert seen == keys


@pytest.mark.parametrize(("seconds", "within"), [
    ([1_800_000_000, 1_800_000_100], True),
    ([1_800_000_000, 1_900_000_000], False),  # one beyond the allowed skew
    ([1_800_000_000, 1_000], False),  # one before the floor
    ([1_800_000_000, None], False),  # one unset: judged record by record, where an unset field is skipped
    ([], True),
])
def test_a_batch_of_event_times_is_within_bounds_only_when_every_one_is(seconds, within):
    events = []
    for s in seconds:
        tx = factories.transaction()
        if s is None:
            tx.ClearField("timestamp")
        else:
            tx.timestamp.seconds = s
        events.append(tx)
    assert event_times_within(events, 1_800_000_100, future_skew_seconds=300, floor=1_500_000_000) is within
