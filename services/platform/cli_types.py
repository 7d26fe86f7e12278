"""Argument types for the command line: a bad value is refused by argparse in one clear line (exit 2), never
a traceback from deep inside the command."""

from __future__ import annotations

import argparse


def share(value: str) -> float:
    """A share from 0 to 1 (e.g. `--payday-spending 0.25`)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {value}")
    return number
