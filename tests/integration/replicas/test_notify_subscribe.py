"""Two notify replicas on one PostgreSQL: a notification replica A stores reaches a Subscribe stream held open
on replica B at once, through LISTEN/NOTIFY (B's fallback re-read is set to a minute here, so only the
notification can wake it in time), in order and with no gap."""

from __future__ import annotations

import pytest

from services.notify import service as notify_service
from services.notify.app import SERVICE
from services.notify.repository import NotifyRepository
from services.notify.routing import route
from services.platform.app import ServiceThread
from services.platform.clock import utc_now
from tests import factories
from tests.integration.notify.test_gateway import _Stream


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_stream_on_replica_b_receives_what_replica_a_stored(settings, token, monkeypatch) -> None:
    monkeypatch.setattr(notify_service, "RECHECK_SECONDS", 60.0)
    replica_a, replica_b = SERVICE.build(settings), SERVICE.build(settings)
    with ServiceThread(replica_b, settings) as b:
        stream = _Stream(b.target, token("C7"), "C7")
        assert stream.nothing_more(0.5)
        notes = [factories.notification("C7", title=f"n{i}") for i in range(3)]
        for n in notes:  # what replica A's worker does with a notification, in its own transactions
            with replica_a.store.transaction() as tx:
                repo = NotifyRepository(tx)
                assert repo.insert(n, utc_now())
                route(repo, n, utc_now())
        got = stream.take(3, timeout=10)
        stream.close()
    replica_a.store.close()
    assert [g.notification.id for g in got] == [n.id for n in notes]
    assert [g.sequence for g in got] == [1, 2, 3]
