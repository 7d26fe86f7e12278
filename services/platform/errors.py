"""Domain errors. Raised anywhere; the gRPC bootstrap maps them to status codes (no stack traces to clients)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a failure the caller can understand and act on."""


class ValidationError(DomainError, ValueError):
    """Input is impossible. `field` names the offending field path, e.g. `transaction.amount.currency`."""

    def __init__(self, field: str, message: str, reason: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.reason = reason  # a short machine code, used as the dead-letter reason


class NotFoundError(DomainError):
    pass


class PermissionDeniedError(DomainError):
    pass


class ConcurrentUpdateError(Exception):
    """Another replica changed a row since this one read it (a conditional write found a newer version): not the
    record's fault, so the runner retries the batch (with fresh state) instead of dead-lettering it."""


class FailedPreconditionError(DomainError):
    pass


class ResourceExhaustedError(DomainError):
    """A bounded resource is full: too many open streams for one caller, a full queue (RESOURCE_EXHAUSTED)."""


# ---- transient or poison ------------------------------------------------------------------------------------

# PostgreSQL SQLSTATEs that can succeed when tried again: serialization failure, deadlock, lock or statement
# time-out, the server shutting down or not yet accepting connections, too many connections, and the whole
# connection-exception class (08...).
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300"})
_TRANSIENT_SQLITE = ("database is locked", "database is busy", "database table is locked")
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes, low byte)
_DRIVER_MODULES = ("psycopg", "psycopg2", "sqlalchemy")
_CONNECTION_LOSS = frozenset({"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"})
# Kafka errors that kafka-python does not flag `retriable` but that pass once the group or the producer has
# recovered: group membership moved on (a rebalance, a broker restart), an idempotent producer's state reset.
_KAFKA_RECOVERABLE = frozenset({
    "CommitFailedError", "UnknownMemberIdError", "IllegalGenerationError", "RebalanceInProgressError",
    "BrokerNotAvailableError", "OutOfOrderSequenceNumberError", "UnknownProducerIdError",
    "InvalidProducerEpochError", "NoBrokersAvailable",
})


def is_transient(exc: BaseException) -> bool:
    """True for a failure that may pass if the same work is tried again later: a database that is locked, busy,
    unreachable or that aborted the transaction for a conflict (serialization failure, deadlock), a lost
    connection, a Kafka time-out or unavailable broker. False for everything else, which is taken as
    deterministic (the same input fails the same way): such a record is dead-lettered, not retried.

    Drivers are recognised by their exception attributes and class names, not imported: SQLAlchemy's
    `connection_invalidated` and `.orig`, psycopg's `sqlstate` (psycopg2's `pgcode`), sqlite3's
    `sqlite_errorcode`, kafka-python's (and the kernel's client seam's) `retriable`. A wrapped cause
    (`raise ... from`) is judged too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _judge(current)
        if verdict is not None:
            return verdict
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _judge(exc: BaseException) -> bool | None:
    """True/False when this exception decides; None to look at what it wraps."""
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the connection was lost mid-statement
        return True
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08")
    names = {cls.__name__ for cls in type(exc).__mro__}
    module = type(exc).__module__.split(".")[0]
    if module == "sqlite3":
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_BUSY_CODES:
            return True
        return any(text in str(exc).lower() for text in _TRANSIENT_SQLITE)
    if module in _DRIVER_MODULES:
        if getattr(exc, "orig", None) is not None:
            return None  # SQLAlchemy's wrapper: its driver exception decides
        return bool(names & _CONNECTION_LOSS)  # no SQLSTATE: the connection failed or was closed
    if module == "kafka":
        return bool(getattr(exc, "retriable", False)) or bool(names & _KAFKA_RECOVERABLE) or None
    if "KafkaClientError" in names:  # the kernel's client seam (kafka_client.py) says whether it may pass
        return bool(getattr(exc, "retriable", False))
    if isinstance(exc, (ConnectionError, TimeoutError, ConcurrentUpdateError)):
        return True
    return None
