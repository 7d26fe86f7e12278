"""Offset paging for list RPCs: an opaque page token the service issued, and a bounded page size."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import TypeVar

from services.gen.proactivecare.v1 import common_pb2
from services.platform.errors import ValidationError

_TOKEN = re.compile(r"o:([0-9]{1,9})")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
T = TypeVar("T")


def read_page(page: common_pb2.PageRequest, *, default_size: int = DEFAULT_PAGE_SIZE,
              max_size: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """(offset, size) of a page request; ValidationError naming `page.page_size` / `page.page_token`."""
    size = page.page_size or default_size
    if not 0 < size <= max_size:
        raise ValidationError("page.page_size", f"must be between 1 and {max_size} (0 = default)")
    if not page.page_token:
        return 0, size
    try:
        text = base64.urlsafe_b64decode(page.page_token.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):  # binascii.Error and UnicodeEncodeError are ValueErrors
        raise ValidationError("page.page_token", "is not a token this service issued") from None
    match = _TOKEN.fullmatch(text)
    if match is None:  # only what cut_page writes: ASCII digits, bounded (no '٣', no '1_0', no 10**30)
        raise ValidationError("page.page_token", "is not a token this service issued")
    return int(match.group(1)), size


_CURSOR = re.compile(r"[0-9]{1,18}")


def read_cursor(token: str) -> int:
    """A keyset page token (a sequence number the service issued); ValidationError naming `page.page_token`
    for anything else (`str.isdigit` would take '²', which `int` then refuses)."""
    if _CURSOR.fullmatch(token) is None:
        raise ValidationError("page.page_token", "is not a token this service issued")
    return int(token)


def cut_page(rows: Sequence[T], offset: int, size: int) -> tuple[Sequence[T], common_pb2.PageResponse]:
    """`rows` fetched with limit size + 1: the page, and the token of the next one (empty at the end)."""
    more = len(rows) > size
    token = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode() if more else ""
    return rows[:size], common_pb2.PageResponse(next_page_token=token)
