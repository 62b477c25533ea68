"""Delayed retry topics, pure: tier layout and the headers a parked record carries.

A change that keeps failing leaves the hot path for ``enricher.retry.<tier>`` (by default 30 s,
5 min, 30 min), so the input partition commits and other interactions flow on. The parked
record is the original event, byte for byte, plus ``enricher.retry.*`` headers: when it is due,
how many attempts it has had, when it first failed, and where it came from, so the DLQ record
it may end up as still names the original topic, partition and offset. When it comes back, the
lane re-reads the ledger and sends the latest snapshot: a retry is never stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "RETRY_PREFIX",
    "Origin",
    "RetryTier",
    "duration_label",
    "origin_of",
    "parked_headers",
    "tiers_of",
]

Headers = Sequence[tuple[str, bytes]]
RETRY_PREFIX = "enricher.retry."
_DUE = RETRY_PREFIX + "due"
_ATTEMPTS = RETRY_PREFIX + "attempts"
_FIRST_FAILURE = RETRY_PREFIX + "first_failure_at"
_REASON = RETRY_PREFIX + "reason"
_SOURCE_TOPIC = RETRY_PREFIX + "source_topic"
_SOURCE_PARTITION = RETRY_PREFIX + "source_partition"
_SOURCE_OFFSET = RETRY_PREFIX + "source_offset"
REPLAYS = "enricher.replays"
_MASKED = "enricher.masked"  # see service.delivery.privacy: survives parking


@dataclass(frozen=True, slots=True)
class RetryTier:
    index: int
    delay: float
    topic: str


def duration_label(seconds: float) -> str:
    """``30s``, ``5m``, ``2h``: the largest whole unit, so topic names read as their delay."""
    whole = int(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s" if whole == seconds else f"{int(seconds * 1000)}ms"


def tiers_of(prefix: str, delays: Sequence[float]) -> tuple[RetryTier, ...]:
    return tuple(
        RetryTier(i, delay, prefix + duration_label(delay)) for i, delay in enumerate(delays)
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record's change started and how far down the retry ladder it already is."""

    topic: str
    partition: int
    offset: int
    tier: int = -1
    """-1 for a record read from an input topic; otherwise the tier it was parked in."""
    attempts: int = 0
    first_failure_at: datetime | None = None
    due_at: float | None = None
    """Epoch seconds at which a parked record may be retried."""
    replays: int = 0

    @property
    def is_retry(self) -> bool:
        return self.tier >= 0


def _header(headers: Headers, name: str) -> str | None:
    for key, value in reversed(headers):
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def origin_of(
    topic: str,
    partition: int,
    offset: int,
    headers: Headers,
    tiers: Sequence[RetryTier],
) -> Origin:
    """The origin of a consumed record: its own position for an input record, the one in its
    headers for a parked one. Unreadable headers fall back to safe values (retry now, from this
    position) rather than losing the record."""
    replays = _int(_header(headers, REPLAYS), 0)
    tier = next((t.index for t in tiers if t.topic == topic), -1)
    if tier < 0:
        return Origin(topic, partition, offset, replays=replays)
    first = _header(headers, _FIRST_FAILURE)
    try:
        first_failure = datetime.fromisoformat(first) if first else None
    except ValueError:
        first_failure = None
    due_ms = _header(headers, _DUE)
    return Origin(
        topic=_header(headers, _SOURCE_TOPIC) or topic,
        partition=_int(_header(headers, _SOURCE_PARTITION), partition),
        offset=_int(_header(headers, _SOURCE_OFFSET), offset),
        tier=tier,
        attempts=_int(_header(headers, _ATTEMPTS), 0),
        first_failure_at=first_failure,
        due_at=_int(due_ms, 0) / 1000 if due_ms is not None else None,
        replays=replays,
    )


def parked_headers(
    original: Headers,
    origin: Origin,
    *,
    due_at: float,
    attempts: int,
    first_failure_at: datetime,
    reason: str,
) -> list[tuple[str, bytes]]:
    """Headers for parking a record: the producer's own headers kept, ours replaced."""
    kept = [(k, v) for k, v in original if not k.startswith("enricher.") or k == _MASKED]
    ours = {
        _DUE: str(int(due_at * 1000)),
        _ATTEMPTS: str(attempts),
        _FIRST_FAILURE: first_failure_at.astimezone(UTC).isoformat(),
        _REASON: reason,
        _SOURCE_TOPIC: origin.topic,
        _SOURCE_PARTITION: str(origin.partition),
        _SOURCE_OFFSET: str(origin.offset),
    }
    if origin.replays:
        ours[REPLAYS] = str(origin.replays)
    return kept + [(k, v.encode()) for k, v in ours.items()]
