"""The three outcomes of a fraud decision (numbered as in fraud.proto's Decision)."""

from __future__ import annotations

from enum import IntEnum


class Verdict(IntEnum):
    ALLOW = 1
    CHALLENGE = 2
    BLOCK = 3
