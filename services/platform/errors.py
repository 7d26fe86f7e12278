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


class FailedPreconditionError(DomainError):
    pass
