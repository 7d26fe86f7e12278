"""The one pager of list RPCs: an opaque page token the service issued, and a bounded page size.

Two kinds of position behind the same token format and the same size rule: an offset (`read_page`/`cut_page`,
for lists that do not grow at their head while read) and a key (`read_keyset`/`cut_keyset`, for lists that grow
while a client pages through them, e.g. a customer's notifications, newest first: no item is skipped or shown
twice when new ones arrive)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.gen.proactivecare.v1 import common_pb2
from services.platform.errors import ValidationError

_OFFSET = re.compile(r"o:([0-9]{1,9})")
_KEY = re.compile(r"k:([0-9]{1,18})")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
T = TypeVar("T")


def read_page(page: common_pb2.PageRequest, *, default_size: int = DEFAULT_PAGE_SIZE,
              max_size: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """(offset, size) of a page request; ValidationError naming `page.page_size` / `page.page_token`."""
    size = _size(page, default_size, max_size)
    return (_position(page.page_token, _OFFSET) if page.page_token else 0), size


def read_keyset(page: common_pb2.PageRequest, *, default_size: int = DEFAULT_PAGE_SIZE,
                max_size: int = MAX_PAGE_SIZE) -> tuple[int | None, int]:
    """(key to continue from, or None for the first page; size) of a page request."""
    size = _size(page, default_size, max_size)
    return (_position(page.page_token, _KEY) if page.page_token else None), size


def _size(page: common_pb2.PageRequest, default_size: int, max_size: int) -> int:
    size = page.page_size or default_size
    if not 0 < size <= max_size:
        raise ValidationError("page.page_size", f"must be between 1 and {max_size} (0 = default)")
    return size


def _position(token: str, pattern: re.Pattern[str]) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):  # binascii.Error and UnicodeEncodeError are ValueErrors
        raise ValidationError("page.page_token", "is not a token this service issued") from None
    match = pattern.fullmatch(text)
    if match is None:  # only what cut_* writes: ASCII digits, bounded (no '٣', no '1_0', no 10**30)
        raise ValidationError("page.page_token", "is not a token this service issued")
    return int(match.group(1))


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def cut_page(rows: Sequence[T], offset: int, size: int) -> tuple[Sequence[T], common_pb2.PageResponse]:
    """`rows` fetched with limit size + 1: the page, and the token of the next one (empty at the end)."""
    more = len(rows) > size
    token = _token(f"o:{offset + size}") if more else ""
    return rows[:size], common_pb2.PageResponse(next_page_token=token)


def cut_keyset(rows: Sequence[T], size: int, key: Callable[[T], int]) -> tuple[Sequence[T], common_pb2.PageResponse]:
    """`rows` fetched with limit size + 1 from the key on: the page, and the token of the next one (the last
    row's key; empty at the end)."""
    page = rows[:size]
    token = _token(f"k:{key(page[-1])}") if len(rows) > size else ""
    return page, common_pb2.PageResponse(next_page_token=token)
