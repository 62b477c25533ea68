"""The vocabulary every platform's outcome table speaks.

An adapter turns whatever the vendor said into one :class:`Outcome`; the delivery loop only ever
looks at ``kind``, so adding a platform never touches the retry, DLQ or metrics code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Outcome", "OutcomeKind"]


class OutcomeKind(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    """Transient: the same request may succeed later."""
    PERMANENT = "permanent"
    """Retrying cannot help; the change goes to the DLQ with ``reason``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    reason: str
    """Stable snake_case code: a metric label and the DLQ ``enricher.reason`` header."""
    status: int | None = None
    retry_after: float | None = None
    """Seconds the vendor asked us to wait (``Retry-After``), if it said."""
    excerpt: str | None = None
    """A short, redacted piece of the vendor's answer, for the DLQ and logs."""
    error_class: str | None = None

    @classmethod
    def delivered(cls, status: int) -> Outcome:
        return cls(OutcomeKind.DELIVERED, "delivered", status)
