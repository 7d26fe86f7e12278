"""Replaying dead letters after a fix: `proactive-care dlq replay --topic T [--reason R]`.

Every dead letter of `T.dlq` (optionally only those whose `dlq.reason` is R) is produced again, with its key and
original bytes, to the topic it came from (its `dlq.source.topic` header), carrying `dlq.replayed_from` =
`<dlq topic>:<partition>:<offset>`. What was replayed is recorded in a compacted ledger topic `T.dlq.replayed`
(key `<partition>:<offset>` of the dead letter), written once the re-produced records are flushed, so a second run
re-sends nothing and any operator machine sees the same ledger. A crash between the two leaves a record replayed
twice at most, which the workers' processed-event records make harmless for content ids.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from services.platform.kafka_client import TopicSpec, open_admin, open_producer
from services.platform.kafka_io import Output, produce_all, read_to_end
from services.platform.settings import Settings
from services.platform.topics import dlq

log = logging.getLogger(__name__)

REPLAYED_FROM = "dlq.replayed_from"


def ledger_topic(topic: str) -> str:
    """The replay ledger of `topic`'s dead letters (a name before its prefix)."""
    return f"{dlq(topic)}.replayed"


@dataclass(frozen=True)
class ReplayResult:
    dead_letters: int  # in the dead-letter topic
    replayed: int  # produced again by this run
    already_replayed: int  # matched, but an earlier run replayed them
    other_reason: int  # left alone: not the reason asked for
    no_source: int  # left alone: no `dlq.source.topic` header to send them back to

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def replay(settings: Settings, topic: str, reason: str | None = None) -> ReplayResult:
    """Re-produce the dead letters of `topic` (a name before its prefix) to their source topic, each once."""
    _ensure_ledger(settings, topic)
    done = {r.key.decode() for r in read_to_end(settings, ledger_topic(topic)) if r.key}
    letters = read_to_end(settings, dlq(topic))
    to_send: list[Output] = []
    marks: list[Output] = []
    already = other = unroutable = 0
    ledger = settings.topic(ledger_topic(topic))
    for letter in letters:
        headers = {k: v.decode(errors="replace") for k, v in letter.headers or ()}
        if reason is not None and headers.get("dlq.reason") != reason:
            other += 1
            continue
        position = f"{letter.partition}:{letter.offset}"
        if position in done:
            already += 1
            continue
        source = headers.get("dlq.source.topic")
        if not source:
            unroutable += 1
            continue
        origin = f"{letter.topic}:{position}"
        key = letter.key.decode(errors="replace") if letter.key else ""
        to_send.append(Output(source, key, letter.value or b"", ((REPLAYED_FROM, origin.encode()),)))
        marks.append(Output(ledger, position, json.dumps({
            "replayed_at_ms": int(time.time() * 1000), "to": source, "reason": headers.get("dlq.reason", ""),
            "source_partition": headers.get("dlq.source.partition"),
            "source_offset": headers.get("dlq.source.offset")}).encode()))
    if to_send:
        producer = open_producer(settings)
        try:
            produce_all(producer, to_send, timeout=settings.produce_timeout_seconds)
            produce_all(producer, marks, timeout=settings.produce_timeout_seconds)  # only once they are written
        finally:
            producer.close(timeout=10)
    result = ReplayResult(len(letters), len(to_send), already, other, unroutable)
    log.info("dead letters of %s: %s", settings.topic(topic), result)
    return result


def _ensure_ledger(settings: Settings, topic: str) -> None:
    name = settings.topic(ledger_topic(topic))
    admin = open_admin(settings)
    try:
        admin.create_topics([TopicSpec(name, 1, 1, {"cleanup.policy": "compact"})])
    finally:
        admin.close()
