"""`make run` supervises its services: one that exits is started again, up to a limit (real processes)."""

from __future__ import annotations

from pathlib import Path

from services.platform.devstack import MAX_RESTARTS, Endpoint, _Supervised


def test_a_service_that_exits_is_restarted_until_the_limit(tmp_path: Path) -> None:
    svc = _Supervised(Endpoint("no-such-service", 1, 2), tmp_path)  # `serve` refuses it: the process exits
    svc.start()
    first = svc.proc
    assert first is not None
    first.wait(60)
    assert svc.check(stuck_seconds=60) is True  # exited: started again, as a new process
    assert svc.restarts == 1 and svc.proc is not first
    for _ in range(MAX_RESTARTS - 1):
        assert svc.proc is not None
        svc.proc.wait(60)
        assert svc.check(stuck_seconds=60) is True
    assert svc.proc is not None
    svc.proc.wait(60)
    assert svc.check(stuck_seconds=60) is False  # restarted too often: the stack stops instead
    assert svc.restarts == MAX_RESTARTS
    assert b"no-such-service" in svc.log_path.read_bytes()  # why it exited is in its log
