"""Domain errors. The API maps them to HTTP statuses and the JSON error shape in ``service.api.errors``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: ``code`` is the stable machine-readable error code clients see."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidIdError(DomainError):
    code = "invalid_id"


class NotFoundError(DomainError):
    code = "not_found"


class VersionConflictError(DomainError):
    code = "version_conflict"


class InvalidTransitionError(DomainError):
    code = "invalid_transition"


class InvalidCursorError(DomainError):
    code = "invalid_next_token"


class PoisonRecordError(Exception):
    """A stream record that can never be applied (bad image, unknown entity type): retried, then DLQ."""


class OrderingBlockedError(Exception):
    """An earlier record of the same item failed in this batch, so this one must not be applied first."""
