"""`make run` prepares a service in the background (e.g. fraud's first model): the other services start at once,
the prepared one when its preparation process has finished; a failed preparation is said, with its log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services import registry
from services.devtools.devstack import Endpoint, _Preparation, _Supervised


class _Recorded(_Supervised):
    """A supervised service whose start is recorded, not run (pure orchestration logic)."""

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.started = True
        self.env = extra_env


def _until_done(prep: _Preparation, services: list[_Supervised], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = prep.step(services)
        if outcome is not None:
            return outcome
        time.sleep(0.2)
    raise TimeoutError("the preparation process did not finish")


def test_the_prepared_service_starts_when_its_preparation_is_done(tmp_path: Path, capsys) -> None:
    prep = _Preparation("notify", tmp_path)  # a service without preparation: the process ends at once, 0
    mine, other = _Recorded(Endpoint("notify", 50052, 9102), tmp_path), _Recorded(Endpoint("advice", 1, 2), tmp_path)
    prep.start()
    assert _until_done(prep, [mine, other]) is True
    assert getattr(mine, "started", False) and not getattr(other, "started", False)
    assert "notify: prepared in" in capsys.readouterr().out


def test_a_failed_preparation_is_said_with_its_log(tmp_path: Path, capsys) -> None:
    prep = _Preparation("no-such-service", tmp_path)
    prep.start()
    assert _until_done(prep, []) is False
    out = capsys.readouterr().out
    assert "preparation failed (2)" in out and str(prep.log_path) in out
    assert "unknown service" in prep.log_path.read_text()


def test_only_fraud_has_a_first_start_preparation_and_scores_with_rules_meanwhile(tmp_path: Path) -> None:
    assert [n for n in registry.NAMES if registry.preparation(n) is not None] == ["fraud"]
    assert _Preparation("fraud", tmp_path).while_preparing() == {"FRAUD_WITHOUT_MODEL": "rules"}
    with pytest.raises(registry.UnknownServiceError):
        registry.preparation("bogus")
