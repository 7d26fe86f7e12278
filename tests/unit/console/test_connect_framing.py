"""The envelope both browser protocols frame messages in (services/console/connect.py)."""

from __future__ import annotations

import grpc
import pytest

from services.console.connect import Refused, code_name, envelope, single_message


def test_an_envelope_is_a_flag_byte_a_big_endian_length_and_the_payload():
    assert envelope(0x02, b"{}") == b"\x02\x00\x00\x00\x02{}"
    assert single_message(envelope(0, b"x" * 300)) == b"x" * 300
    assert single_message(envelope(0, b"")) == b""


@pytest.mark.parametrize(("body", "code"), [
    (b"", grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x00\x00\x00\x00", grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x00\x00\x00\x00\x03ab", grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x00\x00\x00\x00\x01ab", grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x01\x00\x00\x00\x01a", grpc.StatusCode.UNIMPLEMENTED),
    (b"\x80\x00\x00\x00\x01a", grpc.StatusCode.INVALID_ARGUMENT),
])
def test_a_body_that_is_not_exactly_one_plain_envelope_is_refused(body: bytes, code: grpc.StatusCode):
    with pytest.raises(Refused) as refused:
        single_message(body)
    assert refused.value.code == code


def test_connect_spells_cancelled_its_own_way():
    assert code_name(grpc.StatusCode.CANCELLED) == "canceled"
    assert code_name(grpc.StatusCode.PERMISSION_DENIED) == "permission_denied"
