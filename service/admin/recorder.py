"""The last few delivery outcomes per (tenant, interaction, platform), in memory.

An operator asking "why did this interaction not arrive?" needs the vendor's last answers, and
the logs of a busy service are the wrong place to dig for them. The lanes report every attempt
as it ends; this keeps a handful per interaction and forgets the least recently touched
interactions first, so memory stays flat however many interactions pass through. It is a
per-replica view, lost on restart: the DLQ remains the durable record of what failed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from service.delivery.attempt import Attempt, AttemptKind
from service.platforms.outcomes import OutcomeKind

__all__ = ["OutcomeRecorder", "RecordedAttempt"]

_EXCERPT_LIMIT = 300
"""As long as the DLQ's excerpt: enough to read the vendor's message, short enough to list."""


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    at: datetime
    revision: int
    result: str
    """``delivered``, ``held``, ``up_to_date`` or ``failed``."""
    reason: str
    retryable: bool | None
    """For a failure: whether the outcome was transient (retried or parked) or permanent."""
    http_status: int | None
    error_class: str | None
    excerpt: str | None
    called: bool
    elapsed_ms: float | None


Key = tuple[str, str, str]


class OutcomeRecorder:
    """Bounded twice: ``per_key`` attempts per interaction and platform, ``max_keys`` keys."""

    def __init__(
        self,
        *,
        per_key: int = 5,
        max_keys: int = 10_000,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        if per_key < 1 or max_keys < 1:
            raise ValueError("per_key and max_keys must be at least 1")
        self._per_key = per_key
        self._max_keys = max_keys
        self._redact = redact
        self._attempts: OrderedDict[Key, deque[tuple[Attempt, datetime]]] = OrderedDict()
        """What the lanes reported, as reported: it is turned into :class:`RecordedAttempt`
        only when an operator reads it, since every delivery is recorded and few are read."""

    def __len__(self) -> int:
        """Keys held (never more than ``max_keys``)."""
        return len(self._attempts)

    def record(
        self, tenant: str, interaction_id: str, platform: str, attempt: Attempt, at: datetime
    ) -> None:
        """The lanes' attempt hook."""
        key = (tenant, interaction_id, platform)
        recent = self._attempts.get(key)
        if recent is None:
            recent = self._attempts[key] = deque(maxlen=self._per_key)
            while len(self._attempts) > self._max_keys:
                self._attempts.popitem(last=False)
        else:
            self._attempts.move_to_end(key)
        recent.append((attempt, at))

    def recent(self, tenant: str, interaction_id: str, platform: str) -> list[RecordedAttempt]:
        """Newest first. Reading does not count as use: only new attempts keep a key alive."""
        recent = self._attempts.get((tenant, interaction_id, platform))
        return [self._entry(attempt, at) for attempt, at in reversed(recent)] if recent else []

    def _entry(self, attempt: Attempt, at: datetime) -> RecordedAttempt:
        outcome = attempt.outcome
        failed = attempt.kind is AttemptKind.FAILED
        excerpt = outcome.excerpt if outcome is not None else None
        return RecordedAttempt(
            at=at,
            revision=attempt.revision,
            result=attempt.kind.value,
            reason=outcome.reason if outcome is not None else attempt.kind.value,
            retryable=(outcome is None or outcome.kind is OutcomeKind.RETRY) if failed else None,
            http_status=outcome.status if outcome is not None else None,
            error_class=outcome.error_class if outcome is not None else None,
            excerpt=self._redact(excerpt)[:_EXCERPT_LIMIT] if excerpt else None,
            called=attempt.called,
            elapsed_ms=round(attempt.elapsed * 1000, 1) if attempt.called else None,
        )
