"""The command line a newcomer meets: every option explained with its default, a version, and one clear line
(never a traceback) for a wrong service name or argument."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from services import cli, registry


def _parsers(parser: argparse.ArgumentParser, path: str = "proactive-care"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_option_of_every_command_has_help_and_shows_its_default():
    missing = []
    for path, parser in _parsers(cli.build_parser()):
        assert isinstance(parser.formatter_class, type) and issubclass(
            parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), path
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_version():
    done = subprocess.run([sys.executable, "-m", "services.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("proactive-care ")


@pytest.mark.parametrize(("argv", "says"), [
    (["serve", "bogus"], f"unknown service 'bogus': choose from {', '.join(registry.NAMES)}"),
    (["migrate", "bogus"], f"unknown service bogus: choose from {', '.join(registry.NAMES)}"),
    (["bench", "bogus"], "unknown benchmark 'bogus'"),
    (["simulate", "--customers", "many"], "argument --customers: invalid int value: 'many'"),
    (["simulate", "--payday-spending", "1.5"], "argument --payday-spending: must be from 0 to 1, got 1.5"),
    (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
    (["kafka", "restart"], "argument action: invalid choice: 'restart'"),
])
def test_wrong_names_and_arguments_get_one_clear_line_not_a_traceback(argv, says):
    done = subprocess.run([sys.executable, "-m", "services.cli", *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert says in output and "Traceback" not in output
