"""A share measured against the simulator's truth comes with its 95% Wilson interval (both evaluations use it)."""

from __future__ import annotations

import pytest

from services.simulator.truth import interval


@pytest.mark.parametrize(("successes", "trials", "expected"), [
    (11, 15, [0.4805, 0.891]),     # a small segment at 0.733: below 0.85, but not shown to be
    (733, 1000, [0.7047, 0.7595]),  # the same share of a large one is
    (0, 18, [0.0, 0.1759]),
    (18, 18, [0.8241, 1.0]),
    (5, 98, [0.022, 0.1139]),       # 5 false offers among 98 healthy customers: 5.1%, not shown above 5%
    (0, 0, None),
])
def test_a_share_comes_with_its_95_percent_wilson_interval(successes, trials, expected) -> None:
    assert interval(successes, trials) == expected
