"""The vocabulary every platform's outcome table speaks.

An adapter turns whatever the vendor said into one :class:`Outcome`; the delivery loop only ever
looks at ``kind``, so adding a platform never touches the retry, DLQ or metrics code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["TRANSPORT_ERROR", "Outcome", "OutcomeKind"]

TRANSPORT_ERROR = "TransportError"
"""The ``error_class`` of a request that got no HTTP answer (a timeout, a connection lost)."""


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

    @classmethod
    def no_answer(cls, kind: str, message: str) -> Outcome:
        """A request that got no HTTP answer (``kind`` is ``timeout`` or ``connection``): worth
        another try, and the vendor may still have applied it."""
        return cls(OutcomeKind.RETRY, kind, excerpt=message, error_class=TRANSPORT_ERROR)

    @property
    def got_no_answer(self) -> bool:
        return self.error_class == TRANSPORT_ERROR

    @property
    def involved_vendor(self) -> bool:
        """The vendor answered, or the network to it failed: what a breaker and an adaptive
        limit react to (a refusal before any call, such as a contact still connected, is not)."""
        return self.status is not None or self.got_no_answer
