"""The audit trail: every staff (advisor, operator) call touching a customer's data, and every auditor read of
the trail itself, is written to the service's append-only `audit_log` table before the answer leaves, and
mirrored to the `audit` topic. Auditors read it with `AuditService.ListAuditEntries` (PCI DSS 10.2: user, event
type, time, outcome, the data touched; 10.3: the table refuses UPDATE and DELETE).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.message import Message
from sqlalchemy import Column, Index, MetaData, String, Table

from services.gen.proactivecare.v1 import audit_pb2, audit_pb2_grpc
from services.platform import auth
from services.platform.clock import utc_now
from services.platform.kafka_client import Producer
from services.platform.paging import cut_page, read_page
from services.platform.pan import redact_text
from services.platform.settings import Settings
from services.platform.storage import Migration, Store, Tx, as_utc, create_tables, instant
from services.platform.topics import AUDIT
from services.platform.validation import require_id

log = logging.getLogger(__name__)

SERVICE_NAME = "proactivecare.v1.AuditService"
REASON_HEADER = "x-audit-reason"
AUDITED_ROLES = frozenset({auth.Role.ADVISOR, auth.Role.OPERATOR, auth.Role.AUDITOR})

_METADATA = MetaData()
Table("audit_log", _METADATA,
      Column("id", String, primary_key=True), instant("occurred_at"),
      Column("actor", String, nullable=False), Column("role", String, nullable=False),
      Column("service", String, nullable=False), Column("action", String, nullable=False),
      Column("customer_id", String, nullable=False), Column("resource_id", String, nullable=False),
      Column("reason", String, nullable=False), Column("outcome", String, nullable=False),
      Index("audit_log_customer", "customer_id", "occurred_at"))

_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}


def _create_audit_log(tx: Tx) -> None:
    create_tables(_METADATA)(tx)
    for statement in _APPEND_ONLY.get(tx.dialect, ()):
        tx.execute(statement)


MIGRATIONS = [Migration("platform/0001_audit_log", _create_audit_log)]


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    role: str
    service: str
    action: str
    customer_id: str
    resource_id: str
    reason: str
    outcome: str
    occurred_at: datetime | str  # SQLite hands an instant back as text
    id: str = ""

    def to_pb(self) -> audit_pb2.AuditEntry:
        pb = audit_pb2.AuditEntry(id=self.id, actor=self.actor, role=self.role, service=self.service,
                                  action=self.action, customer_id=self.customer_id, resource_id=self.resource_id,
                                  reason=self.reason, outcome=self.outcome)
        at = as_utc(self.occurred_at)
        assert at is not None
        pb.occurred_at.FromDatetime(at.astimezone(UTC).replace(tzinfo=None))
        return pb


def _field(message: Message | None, name: str) -> str:
    if message is None or name not in message.DESCRIPTOR.fields_by_name:
        return ""
    value = getattr(message, name)
    return value if isinstance(value, str) else ""


def _customer_of(message: Message | None, depth: int = 3) -> str:
    """The customer a message is about: its own `customer_id`, or that of the message it wraps (a
    `GetAlertResponse`'s alert, a `ClaimNextResponse`'s task's task), a few levels down."""
    if message is None:
        return ""
    found = _field(message, "customer_id")
    if found or depth == 0:
        return found
    for field in message.DESCRIPTOR.fields:
        if field.type == field.TYPE_MESSAGE and not field.is_repeated and message.HasField(field.name):
            found = _customer_of(getattr(message, field.name), depth - 1)
            if found:
                return found
    return ""


def _resource_id(message: Message | None) -> str:
    if message is None:
        return ""
    for field in message.DESCRIPTOR.fields:
        if field.name.endswith("_id") and field.name != "customer_id" and field.type == field.TYPE_STRING:
            value = getattr(message, field.name)
            if value:
                return str(value)
    return ""


class AuditTrail:
    """Writes the entries of one service (its store's table, the `audit` topic) and reads them back."""

    def __init__(self, store: Store, settings: Settings, service: str,
                 producer_factory: Callable[[], Producer] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.service = service
        self._producer_factory = producer_factory
        self._producer: Producer | None = None
        store.migrate(MIGRATIONS)  # under the store's migration lock: replicas starting together do not race

    def entry(self, principal: auth.Principal, action: str, request: Message | None, response: Message | None,
              metadata: dict[str, str], outcome: str) -> AuditEntry:
        customer = _customer_of(request) or _customer_of(response)
        reason = redact_text(str(metadata.get(REASON_HEADER, ""))[:500])
        return AuditEntry(actor=principal.subject, role=str(principal.role), service=self.service, action=action,
                          customer_id=customer[:200], resource_id=_resource_id(request)[:200], reason=reason,
                          outcome=outcome, occurred_at=utc_now(), id=uuid.uuid4().hex)

    def write(self, entry: AuditEntry) -> None:
        """Store the entry (raises if it cannot be stored: the call then fails), then mirror it to the topic."""
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO audit_log(id, occurred_at, actor, role, service, action, customer_id,"
                       " resource_id, reason, outcome) VALUES (:id, :occurred_at, :actor, :role, :service, :action,"
                       " :customer_id, :resource_id, :reason, :outcome)", entry.__dict__)
        if self._producer_factory is None:
            return
        try:
            if self._producer is None:
                self._producer = self._producer_factory()
            self._producer.send(self.settings.topic(AUDIT), entry.customer_id.encode(),
                                entry.to_pb().SerializeToString())
        except Exception as exc:  # the table is the record; the topic a copy
            log.warning("audit entry %s not mirrored to the topic (%s)", entry.id, type(exc).__name__)

    def list(self, tx: Tx, customer_id: str, offset: int, limit: int) -> list[AuditEntry]:
        rows = tx.all("SELECT * FROM audit_log WHERE customer_id = :customer_id"
                      " ORDER BY occurred_at DESC, id LIMIT :limit OFFSET :offset",
                      {"customer_id": customer_id, "limit": limit, "offset": offset})
        return [AuditEntry(**{k: getattr(r, k) for k in AuditEntry.__dataclass_fields__}) for r in rows]

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def ListAuditEntries(self, request: audit_pb2.ListAuditEntriesRequest,
                               context: grpc.aio.ServicerContext) -> audit_pb2.ListAuditEntriesResponse:
        require_id(request.customer_id, "customer_id")
        offset, size = read_page(request.page)
        rows = await self.trail.store.reading(lambda tx: self.trail.list(tx, request.customer_id, offset, size + 1))
        rows, page = cut_page(rows, offset, size)
        return audit_pb2.ListAuditEntriesResponse(entries=[r.to_pb() for r in rows], page=page)
