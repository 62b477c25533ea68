"""Listing and replaying dead letters: one implementation behind ``enricher dlq`` and the
admin API, so both select, skip, send and audit exactly alike.

:class:`DeadLetterStore` is the seam: :class:`KafkaDeadLetters` reads the DLQ topic and writes
replays to the first retry tier; tests put an in-memory store behind the same API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from service.admin.audit import audit_replay
from service.delivery.dlq_reader import (
    DeadLetterFilter,
    DeadLetterRecord,
    read_dead_letters,
    read_dlq,
)
from service.delivery.fit import is_omitted
from service.delivery.replay import ReplayBatch, ReplaySummary, plan_replay, send_replays
from service.delivery.replay_state import Latest, latest_per_original
from service.settings import Settings

__all__ = [
    "DeadLetterStore",
    "KafkaDeadLetters",
    "ReplayPlan",
    "decoded_value",
    "latest_summary",
    "record_summary",
    "replay",
]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    selection: DeadLetterFilter
    records: list[DeadLetterRecord]
    """What will be sent: the newest dead letter of each selected original not yet replayed
    ``max_replays`` times."""
    summary: ReplaySummary
    batch: ReplayBatch | None = None
    """What sending needs besides the letters (claims, fetched originals)."""


class DeadLetterStore(Protocol):
    async def read(
        self, selection: DeadLetterFilter, *, limit: int | None = None
    ) -> list[DeadLetterRecord]:
        """Matching records, oldest first."""
        ...

    async def read_latest(self, selection: DeadLetterFilter) -> list[Latest]:
        """One state per original with a dead letter matching, oldest first."""
        ...

    async def plan(self, selection: DeadLetterFilter, *, max_replays: int) -> ReplayPlan: ...

    async def send(
        self, plan: ReplayPlan, *, progress: Callable[[int], None] | None = None
    ) -> ReplaySummary:
        """Write every planned record to the first retry tier, due at once."""
        ...


class KafkaDeadLetters:
    """The DLQ topic named by the settings; every call opens and closes its own clients, so
    an idle admin surface holds no broker connection."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self._settings = settings
        self._timeout = timeout

    async def read(
        self, selection: DeadLetterFilter, *, limit: int | None = None
    ) -> list[DeadLetterRecord]:
        s = self._settings
        return await read_dead_letters(
            s.kafka_client_options(),
            s.topic_dlq,
            selection=selection,
            limit=limit,
            timeout=self._timeout,
        )

    async def read_latest(self, selection: DeadLetterFilter) -> list[Latest]:
        s = self._settings
        snapshot = await read_dlq(s.kafka_client_options(), s.topic_dlq, timeout=self._timeout)
        return latest_per_original(snapshot.records, selection)

    async def plan(self, selection: DeadLetterFilter, *, max_replays: int) -> ReplayPlan:
        s = self._settings
        batch, summary = await plan_replay(
            s.kafka_client_options(), s.topic_dlq, selection, max_replays=max_replays
        )
        return ReplayPlan(selection, batch.letters, summary, batch)

    async def send(
        self, plan: ReplayPlan, *, progress: Callable[[int], None] | None = None
    ) -> ReplaySummary:
        from service.kafka_clients import start_producer

        s = self._settings
        if plan.batch is None:
            raise ValueError("a plan from another store cannot be sent here")
        producer = await start_producer(s, acks="all", max_request_size=s.kafka_max_request_size)
        try:
            return await send_replays(
                producer,
                s.retry_tier_topics,
                plan.batch,
                plan.summary,
                now=time.time,
                progress=progress,
                max_record_size=s.kafka_max_request_size,
            )
        finally:
            await producer.stop()


async def replay(
    store: DeadLetterStore,
    plan: ReplayPlan,
    *,
    user: str,
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Send a plan and write the audit line, also when sending stopped half-way: what was
    sent before the failure was sent, and the line says the replay failed rather than that
    it happened."""
    try:
        summary = await store.send(plan, progress=progress)
    except BaseException as exc:
        audit_replay(plan.selection, plan.summary, user=user, failed=str(exc) or type(exc).__name__)
        raise
    audit_replay(plan.selection, summary, user=user)
    return summary


def decoded_value(record: DeadLetterRecord) -> Any:
    """The original event as JSON when it is JSON (bad input may not be), else its text.
    Privacy-flagged fields were masked before the record was written, so they stay masked."""
    if record.value is None or is_omitted(record.headers):
        return None  # written without its value: the headers say where the original is
    try:
        return orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return record.value.decode("utf-8", errors="replace")


def record_summary(record: DeadLetterRecord) -> dict[str, Any]:
    """What ``enricher dlq list --json`` prints per record."""
    return {
        "partition": record.partition,
        "offset": record.offset,
        "written_at": record.written_at.isoformat(),
        "key": record.key.decode("utf-8", "replace") if record.key else None,
        "provenance": record.provenance,
    }


def latest_summary(latest: Latest) -> dict[str, Any]:
    """What ``enricher dlq list --latest --json`` prints per original: its newest dead letter,
    and its state (``dead_lettered``, or ``replayed`` when a replay came after it)."""
    return {
        **record_summary(latest.letter),
        "state": latest.state,
        "replays": latest.replays,
        "copies": latest.copies,
    }
