"""Advisor tasks in the store. Every state change is one conditional UPDATE, so the database (not the process)
decides who holds a task: two advisors never hold the same task, a claim whose lease ran out returns to the
queue, and a redelivered task event never makes a second task (INSERT OR IGNORE on the derived task id).

Instants are stored as integer milliseconds since the epoch (UTC). Every change appends to `advisor_changes`
in the same transaction; `WatchQueue` follows that log, which works across replicas sharing the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.advisor.priority import priority
from services.gen.proactivecare.v1 import events_pb2
from services.platform.errors import FailedPreconditionError, NotFoundError
from services.platform.storage import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS advisor_tasks (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority REAL NOT NULL,
    state TEXT NOT NULL,
    claimed_by TEXT,
    lease_expires_ms INTEGER,
    snoozed_until_ms INTEGER,
    sla_deadline_ms INTEGER NOT NULL,
    sla_breached INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    claims INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    completed_ms INTEGER,
    task BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS advisor_tasks_claimable ON advisor_tasks (queue, state, priority DESC, sla_deadline_ms);
CREATE TABLE IF NOT EXISTS advisor_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS advisor_changes_queue ON advisor_changes (queue, seq)
"""

QUEUED, CLAIMED, SNOOZED, DONE = "QUEUED", "CLAIMED", "SNOOZED", "DONE"

# A task is claimable when queued, when its claim's lease ran out, or when its snooze is over.
_CLAIMABLE = ("(state = 'QUEUED' OR (state = 'CLAIMED' AND lease_expires_ms <= :now) "
              "OR (state = 'SNOOZED' AND snoozed_until_ms <= :now))")


def now_utc() -> datetime:
    return datetime.now(UTC)


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


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
    def from_row(cls, row: sqlite3.Row, now: datetime) -> TaskRow:
        task = events_pb2.AdvisorTask.FromString(row["task"])
        state = row["state"]
        lease = from_ms(row["lease_expires_ms"])
        snoozed = from_ms(row["snoozed_until_ms"])
        if state == CLAIMED and lease is not None and lease <= now:
            state = QUEUED  # the lease ran out: it is back in the queue
        if state == SNOOZED and snoozed is not None and snoozed <= now:
            state = QUEUED
        finished = row["completed_ms"] if row["state"] == DONE else to_ms(now)
        breached = bool(row["sla_breached"]) or finished > row["sla_deadline_ms"]
        return cls(task, state, row["priority"], (row["claimed_by"] or "") if state == CLAIMED else "",
                   lease if state == CLAIMED else None, snoozed if state == SNOOZED else None,
                   row["outcome"], breached)


class TaskRepository:
    def __init__(self, store: Store, clock: Callable[[], datetime] = now_utc) -> None:
        self.store = store
        self.clock = clock
        store.migrate("advisor_0001_tasks", SCHEMA)

    # ---- writes from the stream ------------------------------------------------------------------------

    def add(self, tx: sqlite3.Connection, task: events_pb2.AdvisorTask) -> bool:
        """Store a task once (idempotent by task id). True if it is new."""
        now = to_ms(self.clock())
        inserted = tx.execute(
            "INSERT OR IGNORE INTO advisor_tasks (id, customer_id, queue, kind, priority, state, sla_deadline_ms,"
            " created_ms, updated_ms, task) VALUES (?, ?, ?, ?, ?, 'QUEUED', ?, ?, ?, ?)",
            (task.id, task.customer_id, task.queue, task.kind,
             priority(task.value.amount_minor, task.value.currency, task.urgency),
             to_ms(task.sla_deadline.ToDatetime(tzinfo=UTC)), to_ms(task.created_at.ToDatetime(tzinfo=UTC)), now,
             task.SerializeToString()),
        ).rowcount
        if inserted:
            self._changed(tx, task.id, task.queue, now)
        return bool(inserted)

    # ---- advisor actions -------------------------------------------------------------------------------

    def claim_next(self, queue: str, advisor: str, lease_seconds: int) -> TaskRow | None:
        """Atomically take the highest-priority claimable task of `queue` (one conditional UPDATE)."""
        now = self.clock()
        params = {"queue": queue, "advisor": advisor, "now": to_ms(now),
                  "lease": to_ms(now) + lease_seconds * 1000}
        with self.store.transaction() as tx:
            row = tx.execute(
                f"UPDATE advisor_tasks SET state = 'CLAIMED', claimed_by = :advisor, lease_expires_ms = :lease,"
                f" snoozed_until_ms = NULL, claims = claims + 1, updated_ms = :now"
                f" WHERE id = (SELECT id FROM advisor_tasks WHERE queue = :queue AND {_CLAIMABLE}"
                f"             ORDER BY priority DESC, sla_deadline_ms ASC, created_ms ASC, id ASC LIMIT 1)"
                f" AND {_CLAIMABLE} RETURNING *",
                params,
            ).fetchone()
            if row is None:
                return None
            self._changed(tx, row["id"], queue, params["now"])
            return TaskRow.from_row(row, now)

    def complete(self, task_id: str, advisor: str, outcome: str, note: str) -> TaskRow:
        now = self.clock()
        return self._holder_update(
            task_id, advisor, now,
            "state = 'DONE', outcome = :outcome, note = :note, completed_ms = :now, lease_expires_ms = NULL",
            {"outcome": outcome, "note": note},
        )

    def snooze(self, task_id: str, advisor: str, seconds: int) -> TaskRow:
        now = self.clock()
        return self._holder_update(
            task_id, advisor, now,
            "state = 'SNOOZED', claimed_by = NULL, lease_expires_ms = NULL, snoozed_until_ms = :until",
            {"until": to_ms(now) + seconds * 1000},
        )

    def release(self, task_id: str, advisor: str) -> TaskRow:
        return self._holder_update(task_id, advisor, self.clock(),
                                   "state = 'QUEUED', claimed_by = NULL, lease_expires_ms = NULL", {})

    def _holder_update(self, task_id: str, advisor: str, now: datetime, assignments: str,
                       extra: dict[str, object]) -> TaskRow:
        """Change a task only while `advisor` holds an unexpired claim on it."""
        params = {"id": task_id, "advisor": advisor, "now": to_ms(now), **extra}
        with self.store.transaction() as tx:
            row = tx.execute(
                f"UPDATE advisor_tasks SET {assignments}, updated_ms = :now WHERE id = :id AND state = 'CLAIMED'"
                f" AND claimed_by = :advisor AND lease_expires_ms > :now RETURNING *",
                params,
            ).fetchone()
            if row is None:
                current = tx.execute("SELECT * FROM advisor_tasks WHERE id = ?", (task_id,)).fetchone()
                if current is None:
                    raise NotFoundError(f"task {task_id} not found")
                raise FailedPreconditionError(f"task {task_id} is not claimed by you (or the lease ran out)")
            self._changed(tx, task_id, row["queue"], params["now"])
            return TaskRow.from_row(row, now)

    # ---- reads -----------------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRow:
        row = self.store.query_one("SELECT * FROM advisor_tasks WHERE id = ?", (task_id,))
        if row is None:
            raise NotFoundError(f"task {task_id} not found")
        return TaskRow.from_row(row, self.clock())

    def queue_of(self, task_id: str) -> str:
        return self.get(task_id).task.queue

    def list_queue(self, queue: str, offset: int, limit: int, include_done: bool = False) -> list[TaskRow]:
        where = "queue = ?" + ("" if include_done else " AND state != 'DONE'")
        rows = self.store.query(
            f"SELECT * FROM advisor_tasks WHERE {where} ORDER BY priority DESC, sla_deadline_ms ASC, id ASC"
            " LIMIT ? OFFSET ?", (queue, limit, offset))
        now = self.clock()
        return [TaskRow.from_row(r, now) for r in rows]

    def changes_since(self, queue: str, seq: int, limit: int = 200) -> list[tuple[int, TaskRow]]:
        rows = self.store.query(
            "SELECT c.seq AS seq, t.* FROM advisor_changes c JOIN advisor_tasks t ON t.id = c.task_id"
            " WHERE c.queue = ? AND c.seq > ? ORDER BY c.seq LIMIT ?", (queue, seq, limit))
        now = self.clock()
        return [(r["seq"], TaskRow.from_row(r, now)) for r in rows]

    def last_change(self) -> int:
        row = self.store.query_one("SELECT COALESCE(MAX(seq), 0) AS seq FROM advisor_changes")
        return int(row["seq"]) if row else 0

    # ---- SLA ---------------------------------------------------------------------------------------------

    def mark_breaches(self) -> dict[str, int]:
        """Flag tasks that missed their SLA (still open past the deadline, or completed after it), once each;
        returns how many were newly flagged per queue (the breach metric counts these)."""
        now = to_ms(self.clock())
        with self.store.transaction() as tx:
            rows = tx.execute(
                "UPDATE advisor_tasks SET sla_breached = 1, updated_ms = :now WHERE sla_breached = 0"
                " AND sla_deadline_ms < :now AND (state != 'DONE' OR completed_ms > sla_deadline_ms)"
                " RETURNING id, queue",
                {"now": now},
            ).fetchall()
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["queue"]] = counts.get(row["queue"], 0) + 1
                self._changed(tx, row["id"], row["queue"], now)
            tx.execute("DELETE FROM advisor_changes WHERE at_ms < ?", (now - 86_400_000,))
            return counts

    def open_counts(self) -> dict[tuple[str, str], int]:
        rows = self.store.query("SELECT queue, state, COUNT(*) AS n FROM advisor_tasks WHERE state != 'DONE'"
                                " GROUP BY queue, state")
        return {(r["queue"], r["state"]): int(r["n"]) for r in rows}

    @staticmethod
    def _changed(tx: sqlite3.Connection, task_id: str, queue: str, at_ms: int) -> None:
        tx.execute("INSERT INTO advisor_changes (task_id, queue, at_ms) VALUES (?, ?, ?)", (task_id, queue, at_ms))
