"""``enricher dlq replay``: send selected dead letters back through the normal lane.

A replayed record goes to the first retry tier, due at once, with the original event, the
producer's headers and its original source position: the service reads it like any parked
retry, merges it (a repeated event changes nothing), re-reads the ledger and delivers the
interaction's newest snapshot through its tenant's lane, with the same limits, breaker and
idempotency key as live traffic.

The replay cap holds per original record, not per copy (:mod:`service.delivery.replay_state`):
the DLQ is read to its end, each original is replayed once from its newest copy, a claim in the
DLQ decides between replays running at once, and an original replayed ``max_replays`` times is
skipped, so a change the vendor will never take cannot bounce between the DLQ and the lane for
ever. A dead letter written without its value is replayed from its original, fetched from the
source position, or skipped and counted when that is gone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.delivery.dlq_reader import (
    DeadLetterFilter,
    DeadLetterRecord,
    read_dlq,
    read_since,
)
from service.delivery.fit import DEFAULT_MAX_REQUEST_SIZE, is_omitted
from service.delivery.kafka_sink import send_fitting
from service.delivery.originals import KafkaOriginals, Original, OriginalReader
from service.delivery.privacy import MASKED_HEADER
from service.delivery.replay_state import (
    Identity,
    ReplayItem,
    claim_headers,
    claim_partition,
    claims_won,
    select_replays,
)
from service.delivery.retry_topics import Origin, RetryTier, parked_headers

__all__ = ["ReplayBatch", "ReplaySummary", "plan_replay", "replay_headers", "send_replays"]


@dataclass
class ReplaySummary:
    selected: int = 0
    replayed: int = 0
    skipped_replay_limit: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    skipped_superseded: int = 0
    """Selected dead letters with a newer copy of the same original (only the newest goes)."""
    skipped_claimed: int = 0
    """Originals another replay running at the same time claimed first."""
    skipped_original_gone: int = 0
    """Dead letters without their value whose original the input topic no longer holds."""


@dataclass
class ReplayBatch:
    """What a plan will send, and what sending needs to claim it first."""

    items: list[ReplayItem]
    dlq_topic: str
    client_options: Mapping[str, Any]
    ends: dict[int, int]
    """Where the plan's read of each DLQ partition ended: claims after it are new."""
    partitions: int
    originals: dict[Identity, Original] = field(default_factory=dict)
    """Fetched back for dead letters written without their value."""

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ReplayItem]:
        return iter(self.items)

    @property
    def letters(self) -> list[DeadLetterRecord]:
        return [item.letter for item in self.items]


def replay_headers(
    record: DeadLetterRecord, now: float, *, replays: int | None = None
) -> list[tuple[str, bytes]]:
    """Headers that make a dead letter a retry due ``now`` from its original position;
    ``replays`` is the number this replay claimed (one more than the letter's by default)."""
    p = record.provenance
    origin = Origin(
        topic=p.get("source_topic", "unknown"),
        partition=_int(p.get("source_partition")),
        offset=_int(p.get("source_offset")),
        replays=_int(p.get("replays")) + 1 if replays is None else replays,
    )
    kept: list[tuple[str, bytes]] = [
        (k, v) for k, v in record.headers if not k.startswith("enricher.") or k == MASKED_HEADER
    ]
    return _retry_now(kept, origin, now, record.written_at)


def _retry_now(
    kept: Sequence[tuple[str, bytes]], origin: Origin, now: float, first_failure_at: datetime
) -> list[tuple[str, bytes]]:
    return parked_headers(
        kept, origin, due_at=now, attempts=0, first_failure_at=first_failure_at, reason="replay"
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
    originals: OriginalReader | None = None,
) -> tuple[ReplayBatch, ReplaySummary]:
    """The originals to replay, and the counts an operator sees before anything is sent."""
    snapshot = await read_dlq(client_options, dlq_topic)
    chosen = select_replays(snapshot.records, selection, max_replays=max_replays)
    summary = ReplaySummary(
        selected=chosen.selected,
        skipped_replay_limit=chosen.skipped_replay_limit,
        skipped_superseded=chosen.skipped_superseded,
        by_reason=chosen.by_reason,
    )
    batch = ReplayBatch([], dlq_topic, client_options, snapshot.ends, max(len(snapshot.ends), 1))
    needed = any(is_omitted(item.letter.headers) for item in chosen.items)
    reader = originals or (KafkaOriginals(client_options) if needed else None)
    try:
        for item in chosen.items:
            if reader is not None and is_omitted(item.letter.headers):
                where = item.identity
                original = await reader.fetch(where.topic, where.partition, where.offset)
                if original is None:
                    summary.skipped_original_gone += 1
                    reason = item.letter.provenance.get("reason", "unknown")
                    summary.by_reason[reason] -= 1
                    if not summary.by_reason[reason]:
                        del summary.by_reason[reason]
                    continue
                batch.originals[item.identity] = original
            batch.items.append(item)
    finally:
        if originals is None and isinstance(reader, KafkaOriginals):
            await reader.close()
    return batch, summary


def _replay_copy(
    item: ReplayItem, original: Original | None, now: float
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    if original is None:
        letter = item.letter
        return letter.key, letter.value, replay_headers(letter, now, replays=item.replays)
    # The original is the clear event from the input topic: nothing in it is masked.
    kept = [(k, v) for k, v in original.headers if not k.startswith("enricher.")]
    where = item.identity
    origin = Origin(where.topic, where.partition, where.offset, replays=item.replays)
    return original.key, original.value, _retry_now(kept, origin, now, item.letter.written_at)


async def send_replays(
    producer: Any,
    tiers: Sequence[RetryTier],
    batch: ReplayBatch,
    summary: ReplaySummary,
    *,
    now: Callable[[], float],
    progress: Callable[[int], None] | None = None,
    max_record_size: int = DEFAULT_MAX_REQUEST_SIZE,
) -> ReplaySummary:
    """Claim every planned original in the DLQ, then write those whose claim came first to the
    first retry tier (acks=all), due at once."""
    won = await _claim(producer, batch, uuid.uuid4().hex)
    target = tiers[0].topic
    for item in batch:
        if item.identity in won:
            key, value, headers = _replay_copy(item, batch.originals.get(item.identity), now())
            await send_fitting(producer, target, key, value, headers, limit=max_record_size)
            summary.replayed += 1
        else:
            summary.skipped_claimed += 1
        if progress is not None:
            progress(1)
    return summary


async def _claim(producer: Any, batch: ReplayBatch, replay_id: str) -> set[Identity]:
    """Write a claim per original and read the claim partitions back: the originals for which
    this replay's claim is the first with its number."""
    if not batch.items:
        return set()
    pending = [
        await producer.send(
            batch.dlq_topic,
            key=None,  # the partition is chosen from the original; a key could be too large
            value=b"",
            headers=claim_headers(item, replay_id),
            partition=claim_partition(item.identity, batch.partitions),
        )
        for item in batch
    ]
    written = await asyncio.gather(*pending)
    stops: dict[int, int] = {}
    for metadata in written:
        stops[metadata.partition] = max(stops.get(metadata.partition, 0), metadata.offset + 1)
    ranges = {p: (batch.ends.get(p, 0), stop) for p, stop in stops.items()}
    seen = await read_since(batch.client_options, batch.dlq_topic, ranges)
    return claims_won({item.identity: item.replays for item in batch}, replay_id, seen)
