"""The service's topics and its consumer group's lag, as ``enricher topics`` reports them.

Pure: the command fetches offsets and metadata from the broker and hands them here, so what a
partition's lag means (and what it means for a group that never committed) is decided, and
tested, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from service.delivery.retry_topics import duration_label
from service.events import ANALYTICS_RESULT, INTERACTION_CLOSED
from service.settings import Settings

__all__ = [
    "LagRow",
    "ServiceTopic",
    "creation_plan",
    "input_mismatch",
    "lag_rows",
    "lag_totals",
    "service_topics",
]

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ServiceTopic:
    name: str
    role: str


def service_topics(settings: Settings) -> list[ServiceTopic]:
    """Every topic the service reads or writes, in the order a record can travel them."""
    topics = [
        ServiceTopic(settings.topic_closed, f"input ({INTERACTION_CLOSED})"),
        ServiceTopic(settings.topic_analytics, f"input ({ANALYTICS_RESULT})"),
    ]
    topics.extend(
        ServiceTopic(tier.topic, f"retry tier {tier.index + 1} ({duration_label(tier.delay)})")
        for tier in settings.retry_tier_topics
    )
    topics.append(ServiceTopic(settings.topic_dlq, "dead letters"))
    return topics


def input_mismatch(existing: Mapping[str, int], inputs: tuple[str, str]) -> tuple[int, int] | None:
    """The two input topics' partition counts when both exist and differ.

    Producers key both by ``{tenant}:{interaction_id}``; only equal counts put an
    interaction's close and its analytics on the same partition number, which the service's
    merge relies on.
    """
    counts = [existing.get(name) for name in inputs]
    if counts[0] is None or counts[1] is None or counts[0] == counts[1]:
        return None
    return (counts[0], counts[1])


def creation_plan(
    names: Sequence[str],
    inputs: tuple[str, str],
    existing: Mapping[str, int],
    *,
    default: int,
    given: int | None,
) -> dict[str, int]:
    """Partitions of each missing topic: ``given`` when asked for, else ``default``; except
    that a missing input topic, when not asked otherwise, takes the partition count of the
    other input if that exists, keeping the two co-partitioned."""
    plan: dict[str, int] = {}
    for name in names:
        if name in existing:
            continue
        partitions = given if given is not None else default
        if given is None and name in inputs:
            other = inputs[1] if name == inputs[0] else inputs[0]
            partitions = existing.get(other, partitions)
        plan[name] = partitions
    return plan


@dataclass(frozen=True, slots=True)
class LagRow:
    topic: str
    partition: int
    committed: int | None
    """The group's committed offset; None when it never committed on this partition."""
    end: int
    lag: int
    """Records the group has yet to read here."""


def lag_rows(
    committed: Mapping[TopicPartition, int],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> list[LagRow]:
    """One row per partition in ``ends``, ordered by topic and partition.

    Without a commit the group starts at the earliest record still held (the service's
    ``auto_offset_reset``), so every retained record counts. A commit older than the retained
    start can read only what is left; one past the reported end counts as caught up.
    """
    rows = []
    for topic, partition in sorted(ends):
        tp = (topic, partition)
        end, start = ends[tp], starts.get(tp, 0)
        position = committed.get(tp)
        read_from = start if position is None else max(position, start)
        rows.append(LagRow(topic, partition, position, end, max(0, end - read_from)))
    return rows


def lag_totals(rows: Iterable[LagRow]) -> tuple[int, int]:
    """Total lag, and how many partitions have no commit."""
    rows = list(rows)
    return (sum(r.lag for r in rows), sum(1 for r in rows if r.committed is None))
