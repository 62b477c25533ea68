"""``enricher dev``: the whole system on one machine, showing what gets delivered.

An embedded Kafka-protocol broker, the NICE CXone simulator, the service exactly as ``enricher
run`` starts it, and sample traffic. A summary line every two seconds shows what was consumed,
delivered, held, retried and dead-lettered, and what the vendor now stores for the latest
interaction. Ctrl-C stops everything in order and prints the final figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import click
import httpx

from service.dev.broker import EmbeddedBroker
from service.dev.traffic import TrafficGenerator
from service.http_server import AppServer
from service.logs import configure_logging
from service.metrics import Metrics
from service.runtime import Service
from service.settings import Settings
from service.simulators.nice_cxone import NiceSimConfig, create_app
from service.tenants import parse_tenants

__all__ = ["run_dev"]

_DEV_FIELDS = {"Sentiment", "SentimentScore", "Topics", "CrmAccount", "CaseNumber", "Vip"}


async def run_dev(*, rate: float, duration: float, http_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workdir = Path(tempfile.mkdtemp(prefix="enricher-dev-"))
    click.echo("starting the embedded broker ...")
    sim_config = NiceSimConfig(field_catalogue=_DEV_FIELDS)
    nice_tenant_id = next(iter(sim_config.access_keys.values())).tenant_id
    async with EmbeddedBroker() as broker, AppServer(create_app(sim_config)) as sim:
        service = _service(broker.bootstrap_servers, sim.url, workdir, http_port)
        configure_logging("console", "warning", service.redactor)
        service_task = asyncio.create_task(service.run(handle_signals=False))
        if not await _joined(service, service_task):
            return 1
        traffic = TrafficGenerator(
            broker.bootstrap_servers,
            service.settings.topic_closed,
            service.settings.topic_analytics,
            sim.url,
            nice_tenant_id,
            rate=rate,
        )
        traffic_stop = asyncio.Event()
        traffic_task = asyncio.create_task(traffic.run(traffic_stop))
        _banner(broker.bootstrap_servers, sim.url, service, workdir)
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=sim.url, timeout=2) as client:
            while not stop.is_set() and not service_task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2)
                if duration and time.monotonic() - started >= duration:
                    stop.set()
                click.echo(await _summary_line(service.metrics, traffic, client))
            traffic_stop.set()
            await traffic_task
            await _settle(service.metrics, traffic)
            service.stop()
            with contextlib.suppress(Exception):
                await service_task
            click.echo("final: " + _counts(service.metrics, traffic))
    return 0 if not service.health.fatal else 1


def _service(bootstrap: str, sim_url: str, workdir: Path, http_port: int) -> Service:
    template = files("service.dev").joinpath("tenants.yaml").read_text(encoding="utf-8")
    tenants = parse_tenants(
        template,
        source="service/dev/tenants.yaml",
        environ={
            "DEV_NICE_ISSUER": sim_url,
            "DEV_NICE_CLIENT_SECRET": "dev-client-secret",
            "DEV_NICE_ACCESS_KEY_ID": "dev-key-id",
            "DEV_NICE_ACCESS_KEY_SECRET": "dev-key-secret",
        },
    )
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        kafka_enable_idempotence=False,  # the embedded broker has no idempotent producer
        create_topics=True,
        topic_partitions=4,
        group_id="enricher-dev",
        kafka_session_timeout=timedelta(seconds=6),  # a join takes half of it on this broker
        kafka_heartbeat_interval=timedelta(milliseconds=500),
        ledger_url=f"sqlite:///{workdir}/ledger.sqlite3",
        http_host="127.0.0.1",
        http_port=http_port,
        log_format="console",
        log_level="warning",
        commit_interval=timedelta(milliseconds=500),
        retry_base_delay=timedelta(milliseconds=200),
        config=None,
    )
    return Service(settings, tenants)


async def _joined(service: Service, task: asyncio.Task[None], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not service.health.joined:
        if task.done():
            click.echo(f"the service stopped during start-up: {task.exception()!r}", err=True)
            return False
        if time.monotonic() > deadline:
            click.echo("the service did not join its consumer group in time", err=True)
            return False
        await asyncio.sleep(0.1)
    return True


def _banner(bootstrap: str, sim_url: str, service: Service, workdir: Path) -> None:
    s = service.settings
    click.echo(
        f"\n  broker      {bootstrap} (topics {s.topic_closed}, {s.topic_analytics}, {s.topic_dlq})"
        f"\n  NICE CXone  {sim_url} (simulator; stored data at {sim_url}/_sim/contacts)"
        f"\n  service     {service.http.url}/readyz  {service.http.url}/metrics"
        f"\n  ledger      {workdir}/ledger.sqlite3"
        f"\n  tenants     service/dev/tenants.yaml\n"
        "\n  Ctrl-C stops everything.\n"
    )


def _total(metrics: Metrics, name: str) -> int:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return int(total)


def _counts(metrics: Metrics, traffic: TrafficGenerator) -> str:
    return (
        f"interactions {traffic.interactions}"
        f"  consumed {_total(metrics, 'enricher_consumed_total')}"
        f"  delivered {_total(metrics, 'enricher_delivered_total')}"
        f"  held {_total(metrics, 'enricher_held_total')}"
        f"  retried {_total(metrics, 'enricher_retried_total')}"
        f"  dead-lettered {_total(metrics, 'enricher_dead_lettered_total')}"
    )


async def _summary_line(metrics: Metrics, traffic: TrafficGenerator, sim: httpx.AsyncClient) -> str:
    line = _counts(metrics, traffic)
    lag = max(5, int(traffic.rate * 4))  # old enough for its late analytics to have arrived
    if len(traffic.contacts) >= lag:
        contact_id = traffic.contacts[-lag]
        response = await sim.get(f"/_sim/contacts/{contact_id}")
        if response.status_code == 200:
            segments = response.json().get("segments", {})
            stored: dict[str, object] = next(iter(segments.values()), {})
            if stored:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(stored.items()))
                line += f"\n    NICE contact {contact_id} now holds: {shown}"
    return line


async def _settle(metrics: Metrics, traffic: TrafficGenerator, timeout: float = 10) -> None:
    """Give the last events a moment to be delivered before stopping, so the final figures
    describe finished work."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        consumed = _total(metrics, "enricher_consumed_total")
        if consumed >= traffic.produced and consumed == last:
            return
        last = consumed
        await asyncio.sleep(0.5)
