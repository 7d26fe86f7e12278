"""`proactive-care run --replicas N`: every service N times, each replica on its own ports and log file."""

from __future__ import annotations

from services.devtools.devstack import ENDPOINTS, Endpoint


def test_replicas_of_a_service_get_their_own_ports_and_names() -> None:
    fraud = Endpoint("fraud", 50051, 9101)
    assert [(e.name, e.grpc_port, e.metrics_port) for e in (fraud.nth(0), fraud.nth(1), fraud.nth(2))] == [
        ("fraud", 50051, 9101), ("fraud-2", 50061, 9111), ("fraud-3", 50071, 9121)]


def test_two_replicas_of_every_service_collide_on_no_port() -> None:
    replicas = [e.nth(i) for e in ENDPOINTS for i in range(2)]
    ports = [p for e in replicas for p in (e.grpc_port, e.metrics_port)]
    assert len(set(ports)) == len(ports) == 4 * len(ENDPOINTS)
    assert len({e.name for e in replicas}) == len(replicas)
