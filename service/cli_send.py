"""``enricher send``: one event, several, or a sample, checked and produced by hand.

The imperative shell around :mod:`service.sending`: it reads the input and the tenants file,
and talks to the broker only once every event has passed the service's own checks, so a batch
with one bad event sends nothing.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Container, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.settings import Settings
from service.tenants import ConfigError, TenantsConfig

if TYPE_CHECKING:
    from service.sending import Outgoing

__all__ = ["send"]


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--sample",
    "sample_tenant",
    metavar="TENANT",
    help="Send a generated event for this tenant of the tenants file instead of FILE.",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["closed", "analytics"]),
    default="closed",
    show_default=True,
    help="With --sample: interaction.closed or analytics.result.",
)
@click.option(
    "--interaction",
    "interaction_id",
    metavar="ID",
    help="With --sample: the interaction id (default: a new one).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tenants file (default: ENRICHER_CONFIG).",
)
@click.option("--dry-run", is_flag=True, help="Check and print what would be sent; send nothing.")
def send(
    *,
    file: str | None,
    sample_tenant: str | None,
    kind: str,
    interaction_id: str | None,
    config: Path | None,
    dry_run: bool,
) -> None:
    """Check events as the service does and produce them to their input topic.

    FILE holds one JSON event or JSON Lines (one event per line); - reads stdin. Each goes to
    ENRICHER_TOPIC_CLOSED or ENRICHER_TOPIC_ANALYTICS by its type, keyed {tenant}:{interaction_id}.
    With a tenants file (ENRICHER_CONFIG or --config) tenants it does not have are refused.
    """
    from service.cli_context import load_settings
    from service.sending import EVENT_TYPES, SendError, address

    if (file is None) == (sample_tenant is None):
        raise click.UsageError("give FILE (or - for stdin), or --sample TENANT")
    settings = load_settings(find_dev=True)
    tenants_path = config or settings.config
    tenants = _routing_tenants(tenants_path) if tenants_path else None
    if sample_tenant is not None:
        inputs = [_sample(sample_tenant, EVENT_TYPES[kind], interaction_id, tenants, tenants_path)]
    else:
        assert file is not None
        inputs = _read(file)
    if tenants is None:
        click.echo(
            "note: no tenants file (ENRICHER_CONFIG or --config): tenant names are not checked",
            err=True,
        )
    known: Container[str] = tenants.tenants if tenants else _any_tenant()
    topics = {
        EVENT_TYPES["closed"]: settings.topic_closed,
        EVENT_TYPES["analytics"]: settings.topic_analytics,
    }
    outgoing: list[Outgoing] = []
    refused: list[str] = []
    for origin, value in inputs:
        try:
            outgoing.append(address(origin, value, known, topics))
        except SendError as exc:
            refused.append(str(exc))
    if refused:
        _refuse(refused, len(inputs), tenants_path if tenants else None, tenants)
    if dry_run:
        for item in outgoing:
            click.echo(f"would send to {item.topic}  key {item.key}")
            click.echo(f"  {item.value.decode()}")
        click.echo(f"{len(outgoing)} event(s) checked; nothing sent (--dry-run)", err=True)
        return
    from service.cli_context import run_async
    from service.cli_kafka import broker_errors

    with broker_errors(settings):
        run_async(_produce(settings, outgoing))
    click.echo(f"sent {len(outgoing)} event(s)", err=True)


def _any_tenant() -> Container[str]:
    from service.sending import ANY_TENANT

    return ANY_TENANT


def _routing_tenants(path: Path) -> TenantsConfig:
    """The tenants file read for its names, platforms and fields; secrets that are not set
    here are not needed (see :func:`service.sending.placeholder_environ`)."""
    import os

    from service.sending import placeholder_environ
    from service.tenants import load_tenants

    try:
        return load_tenants(path, environ=placeholder_environ(os.environ))
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem.render(exc.source)}", err=True)
        raise SystemExit(2) from None


def _read(file: str) -> list[tuple[str, bytes]]:
    from service.sending import SendError, read_events

    if file == "-":
        source, data = "<stdin>", sys.stdin.buffer.read()
    else:
        source = file
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            click.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
            raise SystemExit(2) from None
    try:
        return read_events(data, source)
    except SendError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _sample(
    name: str,
    event_type: str,
    interaction_id: str | None,
    tenants: TenantsConfig | None,
    path: Path | None,
) -> tuple[str, bytes]:
    import orjson

    from service.sending import sample_event

    if tenants is None:
        click.echo(
            "error: --sample needs the tenants file: set ENRICHER_CONFIG or pass --config FILE",
            err=True,
        )
        raise SystemExit(2)
    if name not in tenants.tenants:
        click.echo(
            f"error: tenant {name!r} is not in {path}; its tenants: "
            f"{', '.join(sorted(tenants.tenants))}",
            err=True,
        )
        raise SystemExit(2)
    suffix = uuid.uuid4().hex[:8]
    body = sample_event(
        name,
        tenants.tenants[name],
        event_type,
        interaction_id=interaction_id or f"sample-{suffix}",
        event_id=str(uuid.uuid4()),
        now=datetime.now(UTC),
        rng=random.Random(),  # noqa: S311 - sample ids, not security
    )
    return (f"sample for {name}", orjson.dumps(body))


def _refuse(
    refused: Sequence[str], total: int, path: Path | None, tenants: TenantsConfig | None
) -> None:
    shown = refused[:20]
    for message in shown:
        click.echo(f"error: {message}", err=True)
    if len(refused) > len(shown):
        click.echo(f"error: ... and {len(refused) - len(shown)} more", err=True)
    if tenants is not None and any(": unknown_tenant: " in m for m in refused):
        click.echo(f"  the tenants file {path} has: {', '.join(sorted(tenants.tenants))}", err=True)
    click.echo(f"nothing was sent: {len(refused)} of {total} event(s) refused", err=True)
    raise SystemExit(1)


async def _produce(settings: Settings, outgoing: Sequence[Outgoing]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(
        **settings.kafka_client_options(),
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        max_request_size=settings.kafka_max_request_size,
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # it holds a connection attempt and a task until stopped
        raise
    try:
        existing = (await producer.client.fetch_all_metadata()).topics()
        settings_of = {
            settings.topic_closed: "ENRICHER_TOPIC_CLOSED",
            settings.topic_analytics: "ENRICHER_TOPIC_ANALYTICS",
        }
        for topic in sorted({item.topic for item in outgoing} - set(existing)):
            setting = settings_of.get(topic, "its setting")
            click.echo(
                f"error: topic {topic} ({setting}) does not exist at "
                f"{settings.kafka_bootstrap_servers}; nothing was sent",
                err=True,
            )
            click.echo("  create it with `enricher topics create`, or fix the setting", err=True)
            raise SystemExit(1)
        for item in outgoing:
            try:
                sent = await producer.send_and_wait(
                    item.topic, value=item.value, key=item.key.encode()
                )
            except KafkaError as exc:
                click.echo(
                    f"error: {item.topic} refused {item.origin}: {type(exc).__name__}", err=True
                )
                raise SystemExit(1) from None
            click.echo(
                f"{sent.topic}  partition {sent.partition}  offset {sent.offset}  key {item.key}"
            )
    finally:
        await producer.stop()
