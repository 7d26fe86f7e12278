"""Long jobs are never silent: plain periodic lines when not on a terminal, a bar on one; stdout stays clean."""

from __future__ import annotations

import io

from services.platform.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_it_prints_plain_lines_and_a_final_one():
    out = io.StringIO()
    with Progress("produced", total=3, every_seconds=0.0, stream=out) as p:
        for _ in range(3):
            p.update()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("produced: 1 of 3 records (") and lines[-1].startswith("produced: 3 of 3 records")
    assert "\r" not in out.getvalue()


def test_on_a_terminal_it_draws_a_bar():
    out = _Tty()
    with Progress("trained", total=10, unit="trees", stream=out) as p:
        p.update(10)
    assert "trained" in out.getvalue() and "10/10" in out.getvalue() and "\r" in out.getvalue()


def test_nothing_done_prints_nothing_without_a_terminal():
    out = io.StringIO()
    Progress("idle", stream=out).close()
    assert out.getvalue() == ""
