"""Dead-letter records with provenance.

A DLQ record keeps the original key, value and headers byte for byte, so a replay is the very
event that failed, and adds ``enricher.*`` headers that say why, where from and how often. On a
second trip to the DLQ the old ``enricher.*`` headers are replaced, not appended, so headers
never pile up across replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

__all__ = [
    "HEADER_PREFIX",
    "DeadLetter",
    "DeadLetterSink",
    "RecordSink",
    "dead_letter_headers",
]

HEADER_PREFIX = "enricher."
Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Everything that goes into the provenance headers. ``None`` fields are left out."""

    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    service_version: str
    detail: str | None = None
    error_class: str | None = None
    http_status: int | None = None
    response_excerpt: str | None = None
    attempts: int | None = None
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    tenant: str | None = None
    platform: str | None = None
    interaction_id: str | None = None
    revision: int | None = None
    replays: int | None = None
    """How often an operator replayed this change already; guards against replay loops."""
    masked: str | None = None
    """Comma-separated fields masked in the value (privacy-flagged); a replay drops them."""
    omitted: str | None = None
    """What a copy left out (``value``, or ``key,value,headers``): set here for a record whose
    original could not be fetched back, and by :mod:`service.delivery.fit` for a copy that
    would not fit. The original is at the source position."""
    value_size: int | None = None
    """The size of the omitted value, in bytes."""


def dead_letter_headers(
    original: Headers, letter: DeadLetter, max_len: int = 512
) -> list[tuple[str, bytes]]:
    kept = [(k, v) for k, v in original if not k.startswith(HEADER_PREFIX)]
    added = []
    for spec in fields(letter):
        value = getattr(letter, spec.name)
        if value is None:
            continue
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        added.append((HEADER_PREFIX + spec.name, text.encode("utf-8")[:max_len]))
    return kept + added


class RecordSink(Protocol):
    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """Write durably (acks=all) before returning: the caller commits right after."""
        ...


class DeadLetterSink(Protocol):
    async def send(
        self, key: bytes | None, value: bytes | None, headers: Headers, letter: DeadLetter
    ) -> None:
        """Write durably (acks=all) before returning: the caller commits right after."""
        ...
