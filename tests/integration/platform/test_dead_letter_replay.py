"""`proactive-care dlq replay`: dead letters go back to their source topic after a fix, each once, and only those
of the reason asked for. Real broker, the real runner making the dead letters, the CLI entry point."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from services import cli
from services.gen.proactivecare.v1 import common_pb2
from services.platform.dead_letters import REPLAYED_FROM
from services.platform.topics import TRANSACTIONS, dlq
from tests import factories
from tests.integration.conftest import read_topic, wait_for
from tests.integration.platform.ledger import build_runner
from tests.integration.platform.test_stream_runner import _effect_counts
from tests.integration.platform.test_transient_failures import FlakyLedger


def _replay(settings, monkeypatch, capsys, *args: str) -> dict:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    assert cli.main(["dlq", "replay", "--topic", TRANSACTIONS, *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_dead_letters_are_replayed_to_their_source_once_after_the_fix(settings, produce, monkeypatch, capsys):
    good, poison = factories.transaction(), factories.transaction()
    invalid = factories.transaction(amount=common_pb2.Money(amount_minor=500, currency="XYZ"))
    for tx in (good, poison, invalid):
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())

    buggy, store = build_runner(settings, CollectorRegistry())  # a handler bug makes `poison` fail every time
    buggy.handler = FlakyLedger(buggy.handler, poison=frozenset({poison.id}))  # type: ignore[arg-type]
    buggy.start()
    try:
        assert len(read_topic(settings, dlq(TRANSACTIONS), expect=2)) == 2
        assert wait_for(lambda: set(_effect_counts(store)) == {good.id})
    finally:
        buggy.stop()
        buggy.join(30)

    first = _replay(settings, monkeypatch, capsys, "--reason", "handler_error")  # the bug is fixed
    assert first == {"dead_letters": 2, "replayed": 1, "already_replayed": 0, "other_reason": 1, "no_source": 0}
    again = _replay(settings, monkeypatch, capsys, "--reason", "handler_error")
    assert again["replayed"] == 0 and again["already_replayed"] == 1

    replayed = read_topic(settings, TRANSACTIONS, expect=1, match=lambda r: r.headers)
    assert len(replayed) == 1
    assert replayed[0].value == poison.SerializeToString()
    assert replayed[0].key == poison.customer_id.encode()
    assert dict(replayed[0].headers)[REPLAYED_FROM].startswith(settings.topic(dlq(TRANSACTIONS)).encode())

    fixed, store = build_runner(settings, CollectorRegistry())  # the fixed worker, same group: only the replay
    fixed.start()
    try:
        assert wait_for(lambda: set(_effect_counts(store)) == {good.id, poison.id})
    finally:
        fixed.stop()
        fixed.join(30)
    assert _effect_counts(store) == {good.id: 1, poison.id: 1}

    rest = _replay(settings, monkeypatch, capsys)  # every reason: only the invalid one is left to send
    assert (rest["replayed"], rest["already_replayed"]) == (1, 1)
    assert _replay(settings, monkeypatch, capsys)["replayed"] == 0
