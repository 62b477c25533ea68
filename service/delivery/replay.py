"""``enricher dlq replay``: send selected dead letters back through the normal lane.

A replayed record goes to the first retry tier, due at once, with the original event, the
producer's headers and its original source position: the service reads it like any parked
retry, merges it (a repeated event changes nothing), re-reads the ledger and delivers the
interaction's newest snapshot through its tenant's lane, with the same limits, breaker and
idempotency key as live traffic. ``enricher.replays`` counts the trips, and a record replayed
``max_replays`` times already is skipped, so a change the vendor will never take cannot bounce
between the DLQ and the lane for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.delivery.dlq_reader import DeadLetterFilter, DeadLetterRecord, read_dead_letters
from service.delivery.privacy import MASKED_HEADER
from service.delivery.retry_topics import Origin, RetryTier, parked_headers

__all__ = ["ReplaySummary", "plan_replay", "replay_headers", "send_replays"]


@dataclass
class ReplaySummary:
    selected: int = 0
    replayed: int = 0
    skipped_replay_limit: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def replay_headers(record: DeadLetterRecord, now: float) -> list[tuple[str, bytes]]:
    """Headers that make a dead letter a retry due ``now`` from its original position."""
    p = record.provenance
    origin = Origin(
        topic=p.get("source_topic", "unknown"),
        partition=_int(p.get("source_partition")),
        offset=_int(p.get("source_offset")),
        replays=_int(p.get("replays")) + 1,
    )
    kept: list[tuple[str, bytes]] = [
        (k, v) for k, v in record.headers if not k.startswith("enricher.") or k == MASKED_HEADER
    ]
    return parked_headers(
        kept,
        origin,
        due_at=now,
        attempts=0,
        first_failure_at=record.written_at,
        reason="replay",
    )


def _int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


async def plan_replay(
    client_options: Mapping[str, Any],
    dlq_topic: str,
    selection: DeadLetterFilter,
    *,
    max_replays: int,
) -> tuple[list[DeadLetterRecord], ReplaySummary]:
    """The records to replay, and the counts an operator sees before anything is sent."""
    records = await read_dead_letters(client_options, dlq_topic, selection=selection)
    summary = ReplaySummary(selected=len(records))
    todo = []
    for record in records:
        if _int(record.provenance.get("replays")) >= max_replays:
            summary.skipped_replay_limit += 1
            continue
        reason = record.provenance.get("reason", "unknown")
        summary.by_reason[reason] = summary.by_reason.get(reason, 0) + 1
        todo.append(record)
    return todo, summary


async def send_replays(
    producer: Any,
    tiers: Sequence[RetryTier],
    records: Sequence[DeadLetterRecord],
    summary: ReplaySummary,
    *,
    now: Callable[[], float],
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Write each record to the first retry tier (acks=all), due at once."""
    target = tiers[0].topic
    for record in records:
        await producer.send_and_wait(
            target, value=record.value, key=record.key, headers=replay_headers(record, now())
        )
        summary.replayed += 1
        if progress is not None:
            progress(1)
    return summary
