"""``enricher dev``: the whole system on one machine, showing what gets delivered where.

An embedded Kafka-protocol broker, a simulator for each registered platform, the service
exactly as ``enricher run`` starts it with one sample tenant per platform
(``service/dev/tenants.yaml``), and sample traffic for all of them. Every two seconds a summary
shows, per platform, what was delivered, retried, parked and dead-lettered, the delivery rate,
the p99 vendor latency and the state of the tenant's lane, then what each vendor now stores for
a recent interaction. The admin API is on, with a token made up for the run and printed at
start. Ctrl-C stops everything in order and prints the final figures.

On a terminal the summary is a dashboard redrawn in place under the banner (addresses, admin
URL and token, where the log goes), and the service's log goes to a file in the run's
directory, so neither pushes the other off the screen. Anywhere else (CI, a pipe) the summary
is printed as plain lines every period. The run's directory (ledger, logs) is removed when the
run ends; the last lines of the log are printed then.

The figures are read from the service's own metrics and lane status, the same numbers an
operator sees on ``/metrics``, so dev mode also shows what those numbers mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import click
import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from service.delivery.lanes import LaneStatus
from service.dev.broker import EmbeddedBroker
from service.dev.dashboard import LiveScreen, Snapshot, Stored, Totals, dashboard, plain_lines
from service.dev.state import DevState, remove_state, write_state
from service.dev.traffic import SampleTenant, TrafficGenerator
from service.http_server import AppServer
from service.logs import configure_logging
from service.metrics import Metrics
from service.platforms.registry import specs
from service.platforms.spec import DevProfile, PlatformSpec
from service.runtime import Service
from service.settings import Settings
from service.tenants import parse_tenants

__all__ = [
    "Figures",
    "Row",
    "dev_admin_token",
    "dev_environ",
    "histogram_quantile",
    "lane_state",
    "platform_row",
    "read_figures",
    "run_dev",
    "stored_fields",
]

_SUMMARY_EVERY = 2.0
"""Seconds between plain summaries (a pipe or a CI log gets one block per period)."""
_REDRAW_EVERY = 1.0
"""Seconds between redraws of the terminal dashboard."""
_LOG_TAIL = 5
_LATENCY_SAMPLE = "enricher_vendor_request_seconds_bucket"
_COUNTERS = {
    "enricher_delivered_total": "delivered",
    "enricher_retried_total": "retried",
    "enricher_parked_total": "parked",
    "enricher_dead_lettered_total": "dead_lettered",
}


async def run_dev(*, rate: float, duration: float, http_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo("starting the embedded broker and the simulators ...")
    async with contextlib.AsyncExitStack() as stack:
        # Entered first, so removed last: after the service has closed its ledger and the
        # broker has stopped writing its log. Ctrl-C and SIGTERM end the run through ``stop``
        # and so leave through here too.
        workdir = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="enricher-dev-", ignore_cleanup_errors=True)
            )
        )
        broker = await stack.enter_async_context(EmbeddedBroker(log_dir=workdir))
        sims: dict[str, str] = {}
        for platform, app in _simulator_apps().items():
            sims[platform] = (await stack.enter_async_context(AppServer(app))).url
        service = _service(broker.bootstrap_servers, sims, workdir, http_port, dev_admin_token())
        log_path = workdir / "enricher.log"
        log_file = stack.enter_context(log_path.open("a", encoding="utf-8"))
        _log_to(log_file, service)
        click.echo("starting the service and joining its consumer group ...")
        service_task = asyncio.create_task(service.run(handle_signals=False))
        if not await _joined(service, service_task, stop):
            await _stop_service(service, service_task)
            _echo_log_tail(log_path)
            if stop.is_set():
                click.echo("stopped during start-up")
                return 0
            return 1
        traffic = TrafficGenerator(
            broker.bootstrap_servers,
            service.settings.topic_closed,
            service.settings.topic_analytics,
            _sample_tenants(service, sims),
            rate=rate,
        )
        traffic_stop = asyncio.Event()
        traffic_task = asyncio.create_task(traffic.run(traffic_stop))
        banner = _banner(broker, sims, service, workdir, log_path)
        stack.callback(remove_state, write_state(_dev_state(broker.bootstrap_servers, service)))
        summary = _Summary(service, traffic, time.monotonic())
        screen = _screen(banner)
        async with httpx.AsyncClient(timeout=2) as client:
            with screen or contextlib.nullcontext():
                while not stop.is_set() and not service_task.done():
                    period = _REDRAW_EVERY if screen else _SUMMARY_EVERY
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=period)
                    if duration and time.monotonic() - summary.started >= duration:
                        stop.set()
                    view = dashboard(summary.tick(time.monotonic(), await _stored(traffic, client)))
                    if screen:
                        screen.show(view)
                    else:
                        click.echo("\n".join(plain_lines(view)))
            click.echo("stopping: traffic first, then the service once the last events settle ...")
            traffic_stop.set()
            await traffic_task
            await _settle(service.metrics, traffic)
            await _stop_service(service, service_task)
            click.echo("\n".join(summary.final(time.monotonic())))
            log_file.flush()
            _echo_log_tail(log_path)
    return 0 if not service.health.fatal else 1


def _dev_state(bootstrap: str, service: Service) -> DevState:
    """What a command run beside this one needs to find the dev system (service.dev.state)."""
    s = service.settings
    return DevState(
        pid=os.getpid(),
        bootstrap_servers=bootstrap,
        admin_url=f"{service.http.url}/admin",
        http_port=service.http.port,
        topic_dlq=s.topic_dlq,
        topic_retry_prefix=s.topic_retry_prefix,
        retry_tiers=",".join(f"{d.total_seconds():g}s" for d in s.retry_tiers),
    )


def dev_admin_token() -> str:
    """Printed so the admin API can be tried at once, and worthless once the run ends: a fixed
    dev token would end up in scripts, and from there in places it should not be."""
    return secrets.token_urlsafe(24)


async def _stop_service(service: Service, task: asyncio.Task[None]) -> None:
    """Drain, commit and leave the group, as SIGTERM does in production."""
    service.stop()
    with contextlib.suppress(Exception):
        await task


def _dev_platforms() -> dict[str, PlatformSpec]:
    """The platforms dev mode runs: every registered one with a simulator and a dev profile."""
    return {
        platform: spec
        for platform, spec in specs().items()
        if spec.simulator is not None and spec.dev is not None
    }


def _profile(platform: str) -> DevProfile | None:
    spec = specs().get(platform)
    return spec.dev if spec is not None else None


def _simulator_apps() -> dict[str, FastAPI]:
    """Every dev platform's simulator with its dev defaults, or the one its profile asks for
    (a simulator that must know the dev tenant's fields, say)."""
    apps = {}
    for platform, spec in _dev_platforms().items():
        factory = spec.dev.simulator if spec.dev and spec.dev.simulator else spec.simulator
        if factory is not None:
            apps[platform] = factory()
    return apps


def dev_environ(simulator_urls: Mapping[str, str]) -> dict[str, str]:
    """What the dev tenants file references: each simulator's URL and dev credentials."""
    environ: dict[str, str] = {}
    for platform, url in simulator_urls.items():
        profile = _profile(platform)
        if profile is not None:
            environ.update(profile.environ(url))
    return environ


def _service(
    bootstrap: str, sims: Mapping[str, str], workdir: Path, http_port: int, admin_token: str
) -> Service:
    template = files("service.dev").joinpath("tenants.yaml").read_text(encoding="utf-8")
    tenants = parse_tenants(template, source="service/dev/tenants.yaml", environ=dev_environ(sims))
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
        admin_token=SecretStr(admin_token),
        log_format="console",
        log_level="warning",
        commit_interval=timedelta(milliseconds=500),
        retry_base_delay=timedelta(milliseconds=200),
        config=None,
    )
    return Service(settings, tenants)


def _sample_tenants(service: Service, sims: Mapping[str, str]) -> list[SampleTenant]:
    """Traffic for exactly the tenants the service runs, so the file stays the one source."""
    return [
        SampleTenant(
            name,
            tenant.platform,
            sims[tenant.platform],
            live=tenant.settings.write_window() == "live",
        )
        for name, tenant in service.tenants.tenants.items()
    ]


async def _joined(
    service: Service, task: asyncio.Task[None], stop: asyncio.Event, timeout: float = 60
) -> bool:
    deadline = time.monotonic() + timeout
    while not service.health.joined:
        if stop.is_set():
            return False
        if task.done():
            click.echo(f"the service stopped during start-up: {task.exception()!r}", err=True)
            return False
        if time.monotonic() > deadline:
            click.echo("the service did not join its consumer group in time", err=True)
            return False
        await asyncio.sleep(0.1)
    return True


def _banner(
    broker: EmbeddedBroker, sims: Mapping[str, str], service: Service, workdir: Path, log: Path
) -> str:
    s = service.settings
    bootstrap = broker.bootstrap_servers
    token = s.admin_token.get_secret_value() if s.admin_token else "-"
    tenants: dict[str, str] = {t.platform: name for name, t in service.tenants.tenants.items()}
    simulators = "".join(
        f"\n  {platform:<18}{url}  tenant {tenants.get(platform, '-')}, "
        f"stored data at {url}{_store_path(platform)}"
        for platform, url in sims.items()
    )
    return (
        f"\n  broker            {bootstrap} (topics {s.topic_closed}, {s.topic_analytics}, "
        f"{s.topic_dlq})"
        f"{simulators}"
        f"\n  service           {service.http.url}/readyz  {service.http.url}/metrics"
        f"\n  admin API         {service.http.url}/admin  (OpenAPI: {service.http.url}/docs)"
        f"\n  admin token       {token}  (this run only)"
        f"\n  ledger            {workdir}/ledger.sqlite3"
        f"\n  logs              {log}  (broker: {broker.log_path})"
        f"\n  tenants           service/dev/tenants.yaml"
        f"\n  run directory     {workdir}  (removed when the run ends)\n"
        f"\n  try               curl -H 'Authorization: Bearer {token}' \\"
        f"\n                         {service.http.url}/admin/lanes"
        f"\n                    and .../admin/interactions?state=pending (what is still owed)"
        "\n\n  Ctrl-C stops everything and prints the final figures.\n"
    )


def _screen(banner: str) -> LiveScreen | None:
    """The in-place dashboard on a terminal; None elsewhere, where the banner is printed
    once and the summaries follow as plain lines."""
    if sys.stdout.isatty():
        try:
            from rich.console import Console
        except ImportError:  # installed without the dev extra: plain lines still work
            pass
        else:
            return LiveScreen(Console(), banner)
    click.echo(banner)
    return None


def _log_to(log_file: Any, service: Service) -> None:
    """The service's log and the libraries' warnings go to the run's log file, not the
    terminal the dashboard is drawn on."""
    configure_logging("console", "warning", service.redactor, stream=log_file)
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def _echo_log_tail(log: Path) -> None:
    """The log goes with the run's directory; its last lines are what a user may still need."""
    with contextlib.suppress(OSError):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        if lines:
            click.echo(f"the log had {len(lines)} line(s); the last ones:")
            click.echo("\n".join(f"    {line}" for line in lines[-_LOG_TAIL:]))


# -- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """One tenant's counters at one moment, as the service's metrics hold them."""

    platform: str = ""
    delivered: float = 0.0
    retried: float = 0.0
    parked: float = 0.0
    dead_lettered: float = 0.0
    latency_buckets: tuple[tuple[float, float], ...] = ()
    """(upper bound in seconds, cumulative count), ascending, the last bound infinite."""
    dead_letter_reasons: Mapping[str, float] = field(default_factory=dict)


def read_figures(metrics: Metrics) -> dict[str, Figures]:
    """Per tenant, summed over every other label (reason, tier, status class)."""
    counts: dict[str, dict[str, float]] = {}
    buckets: dict[str, dict[float, float]] = {}
    reasons: dict[str, dict[str, float]] = {}
    platforms: dict[str, str] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            tenant = sample.labels.get("tenant")
            if tenant is None:
                continue
            platforms.setdefault(tenant, sample.labels.get("platform", ""))
            if sample.name in _COUNTERS:
                per_tenant = counts.setdefault(tenant, {})
                name = _COUNTERS[sample.name]
                per_tenant[name] = per_tenant.get(name, 0.0) + sample.value
                if name == "dead_lettered":
                    reason = sample.labels.get("reason", "")
                    by_reason = reasons.setdefault(tenant, {})
                    by_reason[reason] = by_reason.get(reason, 0.0) + sample.value
            elif sample.name == _LATENCY_SAMPLE:
                bound = float(sample.labels["le"])
                per_bound = buckets.setdefault(tenant, {})
                per_bound[bound] = per_bound.get(bound, 0.0) + sample.value
    figures = {}
    for tenant, platform in platforms.items():
        count = counts.get(tenant, {})
        figures[tenant] = Figures(
            platform=platform,
            delivered=count.get("delivered", 0.0),
            retried=count.get("retried", 0.0),
            parked=count.get("parked", 0.0),
            dead_lettered=count.get("dead_lettered", 0.0),
            latency_buckets=tuple(sorted(buckets.get(tenant, {}).items())),
            dead_letter_reasons=reasons.get(tenant, {}),
        )
    return figures


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated within its bucket as Prometheus'
    ``histogram_quantile`` does; None without observations. Past the last finite bound the
    answer is that bound: the histogram cannot tell more."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _bucket_delta(
    now: Sequence[tuple[float, float]], before: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], ...]:
    earlier = dict(before)
    return tuple((bound, count - earlier.get(bound, 0.0)) for bound, count in now)


def lane_state(status: LaneStatus | None) -> str:
    """The one word that matters first (is the lane sending?), then its load."""
    if status is None:
        return "-"
    if status.paused_by_operator:
        state = "paused (operator)"
    elif status.paused_until is not None:
        state = f"paused until {status.paused_until:%H:%M:%S}"
    elif status.breaker != "closed":
        state = f"breaker {status.breaker.replace('_', '-')}"
    else:
        state = "sending"
    return f"{state}, {status.in_flight}/{status.limit} in flight, {status.queued} queued"


@dataclass(frozen=True, slots=True)
class Row:
    tenant: str
    platform: str
    delivered: int
    retried: int
    parked: int
    dead_lettered: int
    rate: float
    """Deliveries per second over the period the row covers."""
    p99_ms: float | None
    lane: str


def platform_row(
    tenant: str,
    now: Figures,
    before: Figures,
    seconds: float,
    lane: LaneStatus | None,
) -> Row:
    """Totals as of ``now``; rate and p99 over the period since ``before``, so a live summary
    shows the present and not the average since start-up."""
    p99 = histogram_quantile(0.99, _bucket_delta(now.latency_buckets, before.latency_buckets))
    return Row(
        tenant=tenant,
        platform=now.platform,
        delivered=int(now.delivered),
        retried=int(now.retried),
        parked=int(now.parked),
        dead_lettered=int(now.dead_lettered),
        rate=(now.delivered - before.delivered) / seconds if seconds > 0 else 0.0,
        p99_ms=None if p99 is None else p99 * 1000,
        lane=lane_state(lane),
    )


def _store_path(platform: str) -> str:
    profile = _profile(platform)
    return profile.store_path if profile is not None else "/_sim"


def _platform_order(tenant: str, figures: Figures) -> tuple[int, str]:
    """Rows in the registry's order of platforms, then by tenant."""
    order = list(specs())
    known = figures.platform in order
    return (order.index(figures.platform) if known else len(order), tenant)


class _Summary:
    """Remembers the previous figures, so every line can speak about the last period."""

    def __init__(self, service: Service, traffic: TrafficGenerator, started: float) -> None:
        self._service = service
        self._traffic = traffic
        self.started = started
        self._before = read_figures(service.metrics)
        self._at = started

    def tick(self, now: float, stored: Sequence[Stored] = ()) -> Snapshot:
        """The figures of this moment, rates and p99 over the period since the last tick."""
        figures = read_figures(self._service.metrics)
        snapshot = self._snapshot(figures, now, stored)
        self._before, self._at = figures, now
        return snapshot

    def final(self, now: float) -> list[str]:
        """Totals since start-up, and why things were dead-lettered."""
        self._before, self._at = {}, self.started
        figures = read_figures(self._service.metrics)
        lines = plain_lines(dashboard(self._snapshot(figures, now, ())))
        lines[0] = "final: " + lines[0]
        reasons = _reasons_line(figures)
        if reasons:
            lines.append(f"    dead-lettered by reason: {reasons}")
        if self._traffic.released:
            lines.append(
                f"    live interactions ended before their close event: {self._traffic.released}"
            )
        return lines

    def _snapshot(
        self, figures: Mapping[str, Figures], now: float, stored: Sequence[Stored]
    ) -> Snapshot:
        metrics = self._service.metrics
        totals = Totals(
            interactions=self._traffic.interactions,
            consumed=_total(metrics, "enricher_consumed_total"),
            delivered=_total(metrics, "enricher_delivered_total"),
            held=_total(metrics, "enricher_held_total"),
            retried=_total(metrics, "enricher_retried_total"),
        )
        # Every dead letter of reason not_json in dev mode is one of the records the traffic
        # cut off on purpose (it sends nothing else that is not JSON), up to how many it sent.
        on_purpose = {
            tenant: min(sent, int(figures[tenant].dead_letter_reasons.get("not_json", 0)))
            for tenant, sent in self._traffic.bad_by_tenant.items()
            if tenant in figures
        }
        return Snapshot(totals, self._rows(figures, now), on_purpose, tuple(stored))

    def _rows(self, figures: Mapping[str, Figures], now: float) -> list[Row]:
        lanes = self._service.lanes
        statuses = {s.tenant: s for s in lanes.statuses()} if lanes is not None else {}
        # Every configured tenant has a row from the start, before its first metric exists.
        current = {
            name: figures.get(name, Figures(platform=tenant.platform))
            for name, tenant in self._service.tenants.tenants.items()
        }
        return [
            platform_row(
                t, current[t], self._before.get(t, Figures()), now - self._at, statuses.get(t)
            )
            for t in sorted(current, key=lambda t: _platform_order(t, current[t]))
        ]


def _reasons_line(figures: Mapping[str, Figures]) -> str:
    parts = []
    for tenant in sorted(figures, key=lambda t: _platform_order(t, figures[t])):
        reasons = figures[tenant].dead_letter_reasons
        shown = ", ".join(f"{r} {int(n)}" for r, n in sorted(reasons.items()) if n)
        if shown:
            parts.append(f"{figures[tenant].platform} ({shown})")
    return "; ".join(parts)


def _total(metrics: Metrics, name: str) -> int:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return int(total)


# -- what the vendors store ---------------------------------------------------------------------


def stored_fields(platform: str, body: Mapping[str, Any]) -> dict[str, object]:
    """The fields a simulator's control view says it stores, as the platform's dev profile
    reads them (private values masked: the control view shows them in clear, the terminal
    should not)."""
    profile = _profile(platform)
    return profile.stored_fields(body) if profile is not None else dict(body)


def _vendor_label(platform: str, lookup: str) -> str:
    """The vendor's own words for the record, as the platform's dev profile names it."""
    profile = _profile(platform)
    if profile is None:
        return f"{platform} {lookup.rstrip('/').rsplit('/', 1)[-1]}"
    return profile.label(lookup)


async def _stored(traffic: TrafficGenerator, client: httpx.AsyncClient) -> list[Stored]:
    """Per tenant, an interaction started about four seconds ago: old enough for its late
    events to have arrived and been delivered."""
    lag = max(3, math.ceil(traffic.rate_per_tenant * 4))
    shown = []
    for tenant in traffic.tenants:
        started = traffic.started.get(tenant.name, [])
        if len(started) < lag:
            continue
        interaction_id, lookup = started[-lag]
        with contextlib.suppress(httpx.HTTPError):
            response = await client.get(tenant.simulator_url + lookup)
            if response.status_code != 200:
                continue
            fields = stored_fields(tenant.platform, response.json())
            if fields:
                label = _vendor_label(tenant.platform, lookup)
                shown.append(Stored(interaction_id, label, fields))
    return shown


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
