"""Advisor tasks in the store. Every state change is one conditional UPDATE .. RETURNING, so the database (not
the process) decides who holds a task: two advisors never hold the same task (on PostgreSQL the candidate row
is taken FOR UPDATE SKIP LOCKED, so replicas claiming at once each get a different task and none waits on
another's pick), a claim whose lease ran out returns to the queue, and a redelivered task event never makes a
second task (ON CONFLICT DO NOTHING on the derived task id).

`TaskRepository(tx, clock)` is bound to one transaction of the caller's; instants are UTC (timestamptz on
PostgreSQL). Every change appends to `advisor_changes` in the same transaction; `WatchQueue` follows that log,
which works across replicas sharing the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, false
from sqlalchemy.engine import Row

from services.advisor.priority import priority
from services.gen.proactivecare.v1 import events_pb2
from services.platform.clock import utc_now
from services.platform.errors import FailedPreconditionError, NotFoundError
from services.platform.storage import Migration, Tx, as_utc, create_tables, instant

_METADATA = MetaData()
Table("advisor_tasks", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("queue", String, nullable=False),
      Column("kind", String, nullable=False),
      Column("priority", Float, nullable=False),
      Column("state", String, nullable=False),
      Column("claimed_by", String),
      instant("lease_expires_at", nullable=True),
      instant("snoozed_until", nullable=True),
      instant("sla_deadline"),
      Column("sla_breached", Boolean, nullable=False, server_default=false()),
      Column("outcome", String, nullable=False, server_default=""),
      Column("note", String, nullable=False, server_default=""),
      Column("claims", Integer, nullable=False, server_default="0"),
      instant("created_at"),
      instant("updated_at"),
      instant("completed_at", nullable=True),
      Column("task", LargeBinary, nullable=False),
      Index("advisor_tasks_claimable", "queue", "state", "priority", "sla_deadline"))
Table("advisor_changes", _METADATA,
      Column("seq", Integer, primary_key=True, autoincrement=True),
      Column("task_id", String, nullable=False),
      Column("queue", String, nullable=False),
      instant("at"),
      Index("advisor_changes_queue", "queue", "seq"),
      sqlite_autoincrement=True)
MIGRATIONS = [Migration("advisor/0001_tasks", create_tables(_METADATA))]

QUEUED, CLAIMED, SNOOZED, DONE = "QUEUED", "CLAIMED", "SNOOZED", "DONE"

# A task is claimable when queued, when its claim's lease ran out, or when its snooze is over.
_CLAIMABLE = ("(state = 'QUEUED' OR (state = 'CLAIMED' AND lease_expires_at <= :now) "
              "OR (state = 'SNOOZED' AND snoozed_until <= :now))")
_ORDER = "ORDER BY priority DESC, sla_deadline ASC, created_at ASC, id ASC"
_CLAIM_ATTEMPTS, _CLAIM_RETRY_SECONDS = 50, 0.01  # claimable tasks all locked by others: look again, <= 0.5 s


@dataclass(frozen=True)
class TaskRow:
    task: events_pb2.AdvisorTask
    state: str
    priority: float
    claimed_by: str
    lease_expires_at: datetime | None
    snoozed_until: datetime | None
    outcome: str
    sla_breached: bool

    @classmethod
    def from_row(cls, row: Row[object], now: datetime) -> TaskRow:
        m = row._mapping
        task = events_pb2.AdvisorTask.FromString(bytes(m["task"]))
        state = m["state"]
        lease = as_utc(m["lease_expires_at"])
        snoozed = as_utc(m["snoozed_until"])
        if state == CLAIMED and lease is not None and lease <= now:
            state = QUEUED  # the lease ran out: it is back in the queue
        if state == SNOOZED and snoozed is not None and snoozed <= now:
            state = QUEUED
        finished = as_utc(m["completed_at"]) if m["state"] == DONE else now
        deadline = as_utc(m["sla_deadline"])
        breached = bool(m["sla_breached"]) or (finished is not None and deadline is not None and finished > deadline)
        return cls(task, state, float(m["priority"]), (m["claimed_by"] or "") if state == CLAIMED else "",
                   lease if state == CLAIMED else None, snoozed if state == SNOOZED else None,
                   m["outcome"], breached)


class TaskRepository:
    """The advisor tasks as seen from one open transaction `tx`."""

    def __init__(self, tx: Tx, clock: Callable[[], datetime] = utc_now) -> None:
        self.tx = tx
        self.clock = clock

    # ---- writes from the stream ------------------------------------------------------------------------

    def add(self, task: events_pb2.AdvisorTask) -> bool:
        """Store a task once (idempotent by task id). True if it is new."""
        now = self.clock()
        inserted = self.tx.execute(
            "INSERT INTO advisor_tasks (id, customer_id, queue, kind, priority, state, sla_deadline, created_at,"
            " updated_at, task) VALUES (:id, :customer_id, :queue, :kind, :priority, 'QUEUED', :sla_deadline,"
            " :created_at, :now, :task) ON CONFLICT DO NOTHING",
            {"id": task.id, "customer_id": task.customer_id, "queue": task.queue, "kind": task.kind,
             "priority": priority(task.value.amount_minor, task.value.currency, task.urgency),
             "sla_deadline": task.sla_deadline.ToDatetime(tzinfo=UTC),
             "created_at": task.created_at.ToDatetime(tzinfo=UTC), "now": now,
             "task": task.SerializeToString()},
        ).rowcount
        if inserted:
            self._changed(task.id, task.queue, now)
        return bool(inserted)

    # ---- advisor actions -------------------------------------------------------------------------------

    def claim_next(self, queue: str, advisor: str, lease_seconds: int) -> TaskRow | None:
        """Atomically take the highest-priority claimable task of `queue` (one conditional UPDATE).

        On PostgreSQL the candidate is taken FOR UPDATE SKIP LOCKED, so concurrent claims each get another task
        instead of queueing on one. A row locked by someone else (another claim, the SLA sweep) is skipped, so
        "nothing claimable" is believed only when no claimable task is left, locked or not: otherwise the claim
        tries again (briefly) rather than answer empty while tasks wait."""
        for _attempt in range(_CLAIM_ATTEMPTS):
            now = self.clock()
            row = self._claim(queue, advisor, now, now + timedelta(seconds=lease_seconds))
            if row is not None:
                self._changed(row.id, queue, now)
                return TaskRow.from_row(row, now)
            if not self.tx.postgresql or self.tx.one(
                    f"SELECT 1 FROM advisor_tasks WHERE queue = :queue AND {_CLAIMABLE} LIMIT 1",
                    {"queue": queue, "now": now}) is None:
                return None
            time.sleep(_CLAIM_RETRY_SECONDS)
        return None

    def _claim(self, queue: str, advisor: str, now: datetime, lease: datetime) -> Row[object] | None:
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.tx.postgresql else ""
        return self.tx.one(
            f"UPDATE advisor_tasks SET state = 'CLAIMED', claimed_by = :advisor, lease_expires_at = :lease,"
            f" snoozed_until = NULL, claims = claims + 1, updated_at = :now"
            f" WHERE id = (SELECT id FROM advisor_tasks WHERE queue = :queue AND {_CLAIMABLE}"
            f"             {_ORDER} LIMIT 1{skip_locked})"
            f" AND {_CLAIMABLE} RETURNING *",
            {"queue": queue, "advisor": advisor, "now": now, "lease": lease},
        )

    def complete(self, task_id: str, advisor: str, outcome: str, note: str) -> TaskRow:
        return self._holder_update(
            task_id, advisor, self.clock(),
            "state = 'DONE', outcome = :outcome, note = :note, completed_at = :now, lease_expires_at = NULL",
            {"outcome": outcome, "note": note},
        )

    def snooze(self, task_id: str, advisor: str, seconds: int) -> TaskRow:
        now = self.clock()
        return self._holder_update(
            task_id, advisor, now,
            "state = 'SNOOZED', claimed_by = NULL, lease_expires_at = NULL, snoozed_until = :until",
            {"until": now + timedelta(seconds=seconds)},
        )

    def renew(self, task_id: str, advisor: str, lease_seconds: int) -> TaskRow:
        """Extend the lease of a task `advisor` holds to `lease_seconds` from now."""
        now = self.clock()
        return self._holder_update(task_id, advisor, now, "lease_expires_at = :lease",
                                   {"lease": now + timedelta(seconds=lease_seconds)})

    def release(self, task_id: str, advisor: str) -> TaskRow:
        return self._holder_update(task_id, advisor, self.clock(),
                                   "state = 'QUEUED', claimed_by = NULL, lease_expires_at = NULL", {})

    def _holder_update(self, task_id: str, advisor: str, now: datetime, assignments: str,
                       extra: dict[str, object]) -> TaskRow:
        """Change a task only while `advisor` holds an unexpired claim on it."""
        row = self.tx.one(
            f"UPDATE advisor_tasks SET {assignments}, updated_at = :now WHERE id = :id AND state = 'CLAIMED'"
            f" AND claimed_by = :advisor AND lease_expires_at > :now RETURNING *",
            {"id": task_id, "advisor": advisor, "now": now, **extra},
        )
        if row is None:
            if self.tx.one("SELECT 1 FROM advisor_tasks WHERE id = :id", {"id": task_id}) is None:
                raise NotFoundError(f"task {task_id} not found")
            raise FailedPreconditionError(f"task {task_id} is not claimed by you (or the lease ran out)")
        self._changed(task_id, row.queue, now)
        return TaskRow.from_row(row, now)

    # ---- reads -----------------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRow:
        row = self.tx.one("SELECT * FROM advisor_tasks WHERE id = :id", {"id": task_id})
        if row is None:
            raise NotFoundError(f"task {task_id} not found")
        return TaskRow.from_row(row, self.clock())

    def queue_of(self, task_id: str) -> str:
        return self.get(task_id).task.queue

    def list_queue(self, queue: str, offset: int, limit: int, include_done: bool = False) -> list[TaskRow]:
        where = "queue = :queue" + ("" if include_done else " AND state != 'DONE'")
        rows = self.tx.all(
            f"SELECT * FROM advisor_tasks WHERE {where} ORDER BY priority DESC, sla_deadline ASC, id ASC"
            " LIMIT :limit OFFSET :offset", {"queue": queue, "limit": limit, "offset": offset})
        now = self.clock()
        return [TaskRow.from_row(r, now) for r in rows]

    def changes_since(self, queue: str, seq: int, limit: int = 200) -> list[tuple[int, TaskRow]]:
        rows = self.tx.all(
            "SELECT c.seq AS seq, t.* FROM advisor_changes c JOIN advisor_tasks t ON t.id = c.task_id"
            " WHERE c.queue = :queue AND c.seq > :seq ORDER BY c.seq LIMIT :limit",
            {"queue": queue, "seq": seq, "limit": limit})
        now = self.clock()
        return [(int(r.seq), TaskRow.from_row(r, now)) for r in rows]

    def last_change(self) -> int:
        return int(self.tx.scalar("SELECT COALESCE(MAX(seq), 0) FROM advisor_changes") or 0)

    # ---- SLA ---------------------------------------------------------------------------------------------

    def mark_breaches(self) -> dict[str, int]:
        """Flag tasks that missed their SLA (still open past the deadline, or completed after it), once each;
        returns how many were newly flagged per queue (the breach metric counts these)."""
        now = self.clock()
        rows = self.tx.all(
            "UPDATE advisor_tasks SET sla_breached = :true, updated_at = :now WHERE sla_breached = :false"
            " AND sla_deadline < :now AND (state != 'DONE' OR completed_at > sla_deadline) RETURNING id, queue",
            {"now": now, "true": True, "false": False},
        )
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.queue] = counts.get(row.queue, 0) + 1
            self._changed(row.id, row.queue, now)
        self.tx.execute("DELETE FROM advisor_changes WHERE at < :cutoff", {"cutoff": now - timedelta(days=1)})
        return counts

    def open_counts(self) -> dict[tuple[str, str], int]:
        rows = self.tx.all("SELECT queue, state, COUNT(*) AS n FROM advisor_tasks WHERE state != 'DONE'"
                           " GROUP BY queue, state")
        return {(r.queue, r.state): int(r.n) for r in rows}

    def oldest_open(self) -> dict[str, datetime]:
        """Per queue, when its oldest task not done was raised (how long the queue has kept someone waiting)."""
        rows = self.tx.all("SELECT queue, MIN(created_at) AS oldest FROM advisor_tasks WHERE state != 'DONE'"
                           " GROUP BY queue")
        return {r.queue: as_utc(r.oldest) for r in rows}  # type: ignore[misc]

    def _changed(self, task_id: str, queue: str, at: datetime) -> None:
        self.tx.execute("INSERT INTO advisor_changes (task_id, queue, at) VALUES (:task_id, :queue, :at)",
                        {"task_id": task_id, "queue": queue, "at": at})
