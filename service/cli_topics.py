"""``enricher topics``: the service's topics (``list``, ``create``) and its consumer group's
lag (``lag``), named from the same ``ENRICHER_*`` settings the service runs with.

The imperative shell around :mod:`service.topic_report`: it asks the broker for metadata and
offsets; what they mean is decided there.
"""

from __future__ import annotations

from typing import Any

import click

from service.settings import Settings
from service.topic_report import (
    ServiceTopic,
    creation_plan,
    input_mismatch,
    lag_rows,
    lag_totals,
    service_topics,
)

__all__ = ["topics"]


@click.group()
def topics() -> None:
    """The service's topics (inputs, retry tiers, DLQ) and its consumer group's lag."""


@topics.command("list")
def topics_list() -> None:
    """Each topic of the service with its role and partitions, or "missing"."""
    settings, existing = _with_metadata()
    wanted = service_topics(settings)
    width = max(len(t.name) for t in wanted)
    for topic in wanted:
        partitions = existing.get(topic.name)
        shown = "missing" if partitions is None else str(partitions)
        click.echo(f"{topic.name:<{width}}  {topic.role:<28}  {shown}")
    missing = [t for t in wanted if t.name not in existing]
    if missing:
        click.echo(
            f"{len(missing)} of {len(wanted)} missing: `enricher topics create` creates them",
            err=True,
        )
    _warn_mismatch(settings, existing)


@topics.command("create")
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    help="Partitions of each topic created (default: ENRICHER_TOPIC_PARTITIONS; a missing input "
    "topic takes the other input's count when that one exists).",
)
@click.option(
    "--replication-factor",
    type=click.IntRange(min=1),
    help="Replication factor of each topic created (default: ENRICHER_TOPIC_REPLICATION_FACTOR).",
)
def topics_create(partitions: int | None, replication_factor: int | None) -> None:
    """Create the service's missing topics; existing ones are left exactly as they are."""
    from service.cli_context import run_async
    from service.cli_kafka import broker_errors
    from service.kafka_admin import TopicCreationError, ensure_topics

    settings, existing = _with_metadata()
    wanted = service_topics(settings)
    plan = creation_plan(
        [t.name for t in wanted],
        settings.input_topics,
        existing,
        default=settings.topic_partitions,
        given=partitions,
    )
    factor = replication_factor or settings.topic_replication_factor
    created: list[str] = []
    if plan:
        with broker_errors(settings):
            try:
                created = run_async(
                    ensure_topics(
                        settings.kafka_bootstrap_servers,
                        plan,
                        replication_factor=factor,
                        client_kwargs=settings.kafka_client_options(),
                    )
                )
            except TopicCreationError as exc:
                click.echo(f"error: {exc} (broker {settings.kafka_bootstrap_servers})", err=True)
                raise SystemExit(1) from None
    for topic in wanted:
        if topic.name in created:
            click.echo(
                f"created  {topic.name} ({plan[topic.name]} partitions, "
                f"replication factor {factor})"
            )
        elif topic.name in existing:
            click.echo(f"already existed  {topic.name} ({existing[topic.name]} partitions)")
        else:  # created by someone else between our look and our request
            click.echo(f"already existed  {topic.name} (created meanwhile)")
    final = {**existing, **{name: plan[name] for name in created}}
    closed, analytics = settings.input_topics
    if not _warn_mismatch(settings, final) and {closed, analytics} & set(created):
        click.echo(
            f"note: {closed} and {analytics} must keep the same partition count "
            f"({final.get(closed, '?')}) when producers key them by interaction",
            err=True,
        )


@topics.command("lag")
def topics_lag() -> None:
    """Per input and retry partition: the group's committed offset, the end offset and the
    lag; then the totals. The group is ENRICHER_GROUP_ID."""
    from service.cli_context import load_settings, run_async
    from service.cli_kafka import broker_errors

    settings = load_settings(find_dev=True)
    with broker_errors(settings):
        existing, committed, starts, ends = run_async(_offsets(settings))
    group = settings.group_id
    rows = lag_rows(committed, starts, ends)
    click.echo(f"consumer group {group} (ENRICHER_GROUP_ID)")
    width = max([len("topic"), *(len(r.topic) for r in rows)])
    click.echo(f"{'topic':<{width}}  partition  committed        end        lag")
    for r in rows:
        position = "no commit" if r.committed is None else str(r.committed)
        click.echo(f"{r.topic:<{width}}  {r.partition:>9}  {position:>9}  {r.end:>9}  {r.lag:>9}")
    total, uncommitted = lag_totals(rows)
    click.echo(f"total lag {total} over {len(rows)} partition(s)")
    if uncommitted:
        click.echo(
            f"{uncommitted} partition(s) with no commit: the group starts at their earliest "
            "record (counted in the lag)"
        )
    missing = [t.name for t in _consumed(settings) if t.name not in existing]
    if missing:
        click.echo(
            f"missing: {', '.join(missing)}; `enricher topics create` creates them", err=True
        )


def _consumed(settings: Settings) -> list[ServiceTopic]:
    """The topics the service's group consumes: inputs and retry tiers (not the DLQ)."""
    return [t for t in service_topics(settings) if t.name != settings.topic_dlq]


def _with_metadata() -> tuple[Settings, dict[str, int]]:
    from service.cli_context import load_settings, run_async
    from service.cli_kafka import broker_errors

    settings = load_settings(find_dev=True)
    with broker_errors(settings):
        return settings, run_async(_partitions(settings.kafka_client_options()))


def _warn_mismatch(settings: Settings, existing: dict[str, int]) -> bool:
    counts = input_mismatch(existing, settings.input_topics)
    if counts is None:
        return False
    closed, analytics = settings.input_topics
    click.echo(
        f"warning: {closed} and {analytics} have {counts[0]} and {counts[1]} partitions; they "
        "must have the same partition count when producers key them by interaction",
        err=True,
    )
    click.echo(
        "  otherwise a close and its analytics land on different partitions; give both the "
        "same count",
        err=True,
    )
    return True


async def _partitions(options: dict[str, Any]) -> dict[str, int]:
    """Every topic on the broker with its partition count."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**options)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
    finally:
        await client.close()
    return {name: len(metadata.partitions_for_topic(name) or ()) for name in metadata.topics()}


Offsets = dict[tuple[str, int], int]


async def _offsets(settings: Settings) -> tuple[dict[str, int], Offsets, Offsets, Offsets]:
    """Partitions on the broker, the group's commits, and each consumed partition's start and
    end offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    options = settings.kafka_client_options()
    existing = await _partitions(options)
    tps = [
        TopicPartition(t.name, p)
        for t in _consumed(settings)
        for p in range(existing.get(t.name, 0))
    ]
    committed = await _committed(options, settings.group_id, tps)
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(tps) if tps else {}
        ends = await consumer.end_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    return (
        existing,
        committed,
        {(tp.topic, tp.partition): o for tp, o in starts.items()},
        {(tp.topic, tp.partition): o for tp, o in ends.items()},
    )


async def _committed(options: dict[str, Any], group: str, tps: list[Any]) -> Offsets:
    """The group's committed offsets, read as the service's own consumer reads them (the
    group coordinator's offset fetch). Nothing is subscribed, so the group is never joined
    and a running service is not disturbed."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(**options, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): o for tp, o in found.items() if o is not None and o >= 0}
