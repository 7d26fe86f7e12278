"""Command-line argument types: a bad value is an argparse error naming what is wrong (pure logic)."""

from __future__ import annotations

import argparse

import pytest

from services.platform.cli_types import share


@pytest.mark.parametrize(("value", "number"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0)])
def test_a_share_from_0_to_1_is_taken(value: str, number: float) -> None:
    assert share(value) == number


@pytest.mark.parametrize(("value", "says"), [
    ("1.5", "must be from 0 to 1, got 1.5"),
    ("-0.1", "must be from 0 to 1, got -0.1"),
    ("half", "not a number: 'half'"),
    ("", "not a number: ''"),
    ("nan", "must be from 0 to 1, got nan"),
])
def test_anything_else_is_refused_with_the_reason(value: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        share(value)


def test_every_evaluation_takes_the_simulators_share_the_same_way() -> None:
    from services.cli import build_parser

    parser = build_parser()
    for argv in (["simulate"], ["advice", "evaluate"], ["mortgage", "evaluate"]):
        assert parser.parse_args([*argv, "--payday-spending", "0.25"]).payday_spending == 0.25
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--payday-spending", "2"])
