"""The feature state in binary: a customer's, a terminal's, a merchant's or a category's state as bytes, written
and read without JSON (the worker rewrites every state its poll batch touched, so this is on the hot path).

Layout (little-endian): a 4-byte tag naming the kind and format version, a fixed header of counts and scalars, the
numeric columns as packed arrays (float64, int8 or int64), then the strings (transaction ids, terminals,
merchants) as UTF-8 joined by NUL. A state holding a string with a NUL in it cannot be packed (`encode_*` returns
None) and is stored as JSON, which `decode` still reads, as it reads every row written before this format (their
`packed` column is empty): a replica of this version carries on from what the previous one stored.

A packed customer is the state as it was in memory (prefix sums and the expired entries not dropped yet
included), so a replica that reads it back computes bit for bit the features the one that wrote it would have:
the stream through the store and the training replay agree exactly (tests/unit/fraud/test_feature_parity.py).
"""

from __future__ import annotations

import json
import os
import struct
from array import array
from itertools import accumulate
from typing import Any

from services.fraud.windows import HIGH_SURPRISE, CustomerHistory, EntityActivity, EntityVolume, entity_state

CUSTOMER_TAG = b"FC1\x00"
TERMINAL_TAG = b"FT1\x00"
VOLUME_TAG = b"FV1\x00"
# tag; payments, first inside the horizon, frauds, terminals, merchants; bytes of ids, terminals, merchants;
# loc_n; last (3), loc sums (2)
_CUSTOMER_HEAD = struct.Struct("<4s8Iq5d")
_ENTITY_HEAD = struct.Struct("<4s4I")  # tag, entries, frauds, fraud ids bytes, pad
_SEP = "\x00"
State = CustomerHistory | EntityActivity | EntityVolume
# A rolling upgrade from a version that stores JSON only: that version cannot read a packed row, so the new replicas
# run with FRAUD_STATE_FORMAT=json (they read both, write JSON) until no replica of the old version is left, then
# without it (packed, the default).
STATE_FORMAT_ENV = "FRAUD_STATE_FORMAT"
WRITE_PACKED = os.environ.get(STATE_FORMAT_ENV, "packed") != "json"


def _joined(values: list[str]) -> bytes | None:
    """The strings joined by NUL, or None when one holds a NUL itself (such a state is stored as JSON)."""
    blob = _SEP.join(values).encode()
    return blob if blob.count(b"\x00") == max(len(values) - 1, 0) else None


def _split(blob: bytes, n: int) -> list[str]:
    """`n` strings joined by NUL (one empty string and none are told apart by the count)."""
    return blob.decode().split(_SEP) if n else []


def _floats(data: bytes | memoryview, start: int, n: int) -> tuple[list[float], int]:
    end = start + 8 * n
    values = array("d")
    values.frombytes(data[start:end])
    return values.tolist(), end


# ---- customers ---------------------------------------------------------------------------------------------------
def encode_customer(h: CustomerHistory) -> bytes | None:
    """As held in memory, expired entries not yet dropped and prefix sums included: a state read back computes
    the very same features as the one that never left memory (recomputed sums could differ in the last bit)."""
    ids, terminals, merchants = _joined(h.ids), _joined(sorted(h.terminals)), _joined(sorted(h.merchants))
    if ids is None or terminals is None or merchants is None:
        return None
    n = len(h.times)
    head = _CUSTOMER_HEAD.pack(CUSTOMER_TAG, n, h.base, len(h.fraud_times), len(h.terminals), len(h.merchants),
                               len(ids), len(terminals), len(merchants), h.loc_n, h.last_ts, h.last_x, h.last_y,
                               h.loc_sx, h.loc_sy)
    return b"".join((head, array("d", h.times).tobytes(), array("d", h.amounts).tobytes(),
                     array("d", h.surprises).tobytes(), array("b", h.novel).tobytes(),
                     array("d", h.cum_amount).tobytes(), array("d", h.cum_sq).tobytes(),
                     array("d", h.fraud_times).tobytes(), ids, terminals, merchants))


def decode_customer(data: bytes) -> CustomerHistory:
    (tag, n, base, n_frauds, n_terminals, n_merchants, b_ids, b_terminals, b_merchants, loc_n, last_ts, last_x,
     last_y, loc_sx, loc_sy) = _CUSTOMER_HEAD.unpack_from(data)
    if tag != CUSTOMER_TAG:
        raise ValueError(f"not a packed customer state (tag {tag!r})")
    view = memoryview(data)
    pos = _CUSTOMER_HEAD.size
    times, pos = _floats(view, pos, n)
    amounts, pos = _floats(view, pos, n)
    surprises, pos = _floats(view, pos, n)
    novel = array("b")
    novel.frombytes(view[pos:pos + n])
    pos += n
    cum_amount, pos = _floats(view, pos, n + 1)
    cum_sq, pos = _floats(view, pos, n + 1)
    fraud_times, pos = _floats(view, pos, n_frauds)
    ids = _split(data[pos:pos + b_ids], n)
    pos += b_ids
    terminals = _split(data[pos:pos + b_terminals], n_terminals)
    pos += b_terminals
    merchants = _split(data[pos:pos + b_merchants], n_merchants)
    h = CustomerHistory()
    h.times, h.ids, h.amounts, h.surprises, h.novel = times, ids, amounts, surprises, novel.tolist()
    h.base = base
    h.sorted_amounts = sorted(amounts[base:])
    h.cum_amount, h.cum_sq = cum_amount, cum_sq
    # the counts are exact whatever the order of additions: rebuilt
    h.cum_high = list(accumulate((int(r >= HIGH_SURPRISE) for r in surprises), initial=0))
    h.cum_novel = list(accumulate(h.novel, initial=0))
    h.terminals = set(terminals)
    h.merchants = set(merchants)
    h.last_ts, h.last_x, h.last_y = last_ts, last_x, last_y
    h.loc_n, h.loc_sx, h.loc_sy = loc_n, loc_sx, loc_sy
    h.fraud_times = fraud_times
    return h


# ---- terminals, merchants, categories ----------------------------------------------------------------------------
def encode_entity(e: EntityActivity | EntityVolume) -> bytes | None:
    fraud_ids = _joined(e.fraud_ids)
    if fraud_ids is None:
        return None
    if isinstance(e, EntityActivity):
        entries = e.times[e.base:]
        head = _ENTITY_HEAD.pack(TERMINAL_TAG, len(entries), len(e.fraud_times), len(fraud_ids), 0)
        body = array("d", entries).tobytes()
    else:
        counts = [b - a for a, b in zip(e.cum, e.cum[1:], strict=False)]
        head = _ENTITY_HEAD.pack(VOLUME_TAG, len(e.hours), len(e.fraud_times), len(fraud_ids), 0)
        body = array("q", e.hours).tobytes() + array("q", counts).tobytes()
    return b"".join((head, body, array("d", e.fraud_times).tobytes(), fraud_ids))


def decode_entity(data: bytes) -> EntityActivity | EntityVolume:
    tag, n, n_frauds, n_ids, _pad = _ENTITY_HEAD.unpack_from(data)
    view = memoryview(data)
    pos = _ENTITY_HEAD.size
    e: EntityActivity | EntityVolume
    if tag == TERMINAL_TAG:
        e = EntityActivity()
        e.times, pos = _floats(view, pos, n)
    elif tag == VOLUME_TAG:
        e = EntityVolume()
        hours, counts = array("q"), array("q")
        hours.frombytes(view[pos:pos + 8 * n])
        counts.frombytes(view[pos + 8 * n:pos + 16 * n])
        pos += 16 * n
        e.hours = hours.tolist()
        e.cum = list(accumulate(counts.tolist(), initial=0))
    else:
        raise ValueError(f"not a packed entity state (tag {tag!r})")
    e.fraud_times, pos = _floats(view, pos, n_frauds)
    e.fraud_ids = _split(data[pos:pos + n_ids], n_frauds)
    return e


# ---- either form -------------------------------------------------------------------------------------------------
def decode(kind: str, packed: bytes | None, text: str | None) -> State:
    """A stored state: the packed form when there is one, else the JSON one (a row written before the packed
    format, or a state that could not be packed); an empty row is an empty state."""
    if packed:
        return decode_customer(bytes(packed)) if kind == "customer" else decode_entity(bytes(packed))
    d: dict[str, Any] = json.loads(text) if text else {}
    if kind == "customer":
        return CustomerHistory.from_dict(d) if d else CustomerHistory()
    return entity_state(kind).from_dict(d)


def encode(state: State, packed_form: bool | None = None) -> tuple[bytes | None, str]:
    """(packed, JSON text) to store: the packed form and an empty text, or no packed form and the JSON (when
    `packed_form` is False, by default when FRAUD_STATE_FORMAT=json, or when the state cannot be packed)."""
    if WRITE_PACKED if packed_form is None else packed_form:
        packed = encode_customer(state) if isinstance(state, CustomerHistory) else encode_entity(state)
        if packed is not None:
            return packed, ""
    return None, json.dumps(state.to_dict(), separators=(",", ":"))
