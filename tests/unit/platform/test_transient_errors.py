"""`is_transient`: what the stream runner retries (backoff, nothing committed) and what it dead-letters.

SQLite and Kafka errors are the real ones; PostgreSQL drivers are not installed here, so their exceptions are
stood in for by classes carrying the same module, names and attributes that `is_transient` reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from kafka import errors as kafka_errors

from services.platform.errors import ValidationError, is_transient


def _sqlite_error(tmp_path: Path, sql: str, hold_lock: bool) -> sqlite3.Error:
    path = tmp_path / "db.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    if hold_lock:
        holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("no error")


def test_a_locked_sqlite_database_is_transient_a_missing_table_is_not(tmp_path: Path) -> None:
    locked = _sqlite_error(tmp_path, "BEGIN IMMEDIATE", hold_lock=True)
    assert "locked" in str(locked)
    assert is_transient(locked)
    assert not is_transient(_sqlite_error(tmp_path, "SELECT * FROM nowhere", hold_lock=False))
    assert not is_transient(sqlite3.IntegrityError("UNIQUE constraint failed: t.x"))


def _pg_error(class_name: str, module: str = "psycopg", **attrs: object) -> Exception:
    cls = type(class_name, (Exception,), {"__module__": module})
    exc = cls("server says no")
    for name, value in attrs.items():
        setattr(exc, name, value)
    return exc


@pytest.mark.parametrize(("exc", "transient"), [
    (_pg_error("SerializationFailure", sqlstate="40001"), True),
    (_pg_error("DeadlockDetected", sqlstate="40P01"), True),
    (_pg_error("LockNotAvailable", sqlstate="55P03"), True),
    (_pg_error("AdminShutdown", sqlstate="57P01"), True),
    (_pg_error("ConnectionFailure", sqlstate="08006"), True),
    (_pg_error("OperationalError"), True),  # connection refused: no SQLSTATE at all
    (_pg_error("OperationalError", module="psycopg2", pgcode="40001"), True),
    (_pg_error("UniqueViolation", sqlstate="23505"), False),
    (_pg_error("UndefinedTable", sqlstate="42P01"), False),
    (_pg_error("ProgramLimitExceeded", sqlstate="54000"), False),
    (_pg_error("DataError"), False),
])
def test_postgresql_errors_are_judged_by_sqlstate_or_as_connection_loss(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_sqlalchemy_wrappers_are_judged_by_the_driver_error_they_carry() -> None:
    lost = _pg_error("OperationalError", module="sqlalchemy.exc", orig=None, connection_invalidated=True)
    assert is_transient(lost)
    serialization = _pg_error("OperationalError", module="sqlalchemy.exc", connection_invalidated=False,
                              orig=_pg_error("SerializationFailure", sqlstate="40001"))
    assert is_transient(serialization)
    missing = _pg_error("ProgrammingError", module="sqlalchemy.exc", connection_invalidated=False,
                        orig=_pg_error("UndefinedTable", sqlstate="42P01"))
    assert not is_transient(missing)
    pool_timeout = _pg_error("TimeoutError", module="sqlalchemy.exc")
    assert is_transient(pool_timeout)


@pytest.mark.parametrize(("exc", "transient"), [
    (kafka_errors.KafkaTimeoutError("Expiring 1 record(s): 120000 ms has passed"), True),
    (kafka_errors.NotLeaderForPartitionError(), True),
    (kafka_errors.KafkaConnectionError(), True),
    (kafka_errors.NodeNotReadyError(), True),
    (kafka_errors.CommitFailedError("the consumer is not part of an active group"), True),
    (kafka_errors.UnknownMemberIdError(), True),
    (kafka_errors.MessageSizeTooLargeError(), False),
    (kafka_errors.TopicAuthorizationFailedError(), False),
])
def test_kafka_time_outs_and_unavailability_are_transient(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_wrapped_cause_is_judged_and_plain_errors_are_deterministic() -> None:
    try:
        try:
            raise kafka_errors.KafkaTimeoutError("flush")
        except kafka_errors.KafkaError as inner:
            raise RuntimeError("produce failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert is_transient(ConnectionResetError())
    assert not is_transient(ValueError("bad amount"))
    assert not is_transient(KeyError("customer"))
    assert not is_transient(ValidationError("transaction.id", "missing"))
