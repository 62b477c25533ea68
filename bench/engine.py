"""The delivery engine end to end: embedded broker, a vendor with configurable latency, and the
service, each figure printed beside a baseline measured in the same run.

Run ``python -m bench.engine [--quick]``. Every consumer under test (the service and both
baselines) runs in its own spawned process on uvloop; the vendor is a NICE CXone stand-in in a
further process (``bench._vendor``: the FastAPI simulator tops out near 2,000 PUTs/s on a core,
which would be measuring the simulator), and the producer and the control loop stay in this one.
Each run gets a backlog of ``interaction.closed`` events pre-produced before its consumer
starts, one per interaction with its own contact (nothing coalesces), keyed
``tenant:interaction_id``; deliveries are counted by the vendor, and a rate runs from the first
answered PUT to the last.

1. fast vendor: the service against a bare consumer (aiokafka, one PUT per event with the
   service's ``AiohttpTransport`` and the same concurrency, auto-commit), each run three times,
   alternately, and compared by medians; target 0.6 or better.
2. 100 ms vendor, 8 partitions: the service against one PUT at a time per partition (the Kafka
   Connect HTTP sink model); targets 25 times and 2,000 deliveries/s.
3. isolation: globex alone, then globex while acme's vendor never answers within acme's
   delivery timeout (as many acme events, interleaved); target 0.9 or better. 3b, beyond the
   issue's figures: the same beside an acme vendor that answers every call, after 2 s: it
   neither fails nor stalls, so only the fair share of a full pipeline protects globex.
4. event-to-vendor latency (produce call to the vendor's receipt) at half the rate of 1,
   produced steadily to the already drained consumer; the bare consumer at the same rate is
   the baseline.
5. peak resident memory (VmHWM) of the service process over all runs, beside the bare
   consumer's.
6. configured tenants: figure 1's backlog for one tenant with 1 and with 1,000 tenants
   configured (``--tenant-counts``; the others idle), alternately, compared by medians of the
   rate and of the CPU per delivery; the cost per record must not grow with the number of
   tenants. Each count's peak memory is printed beside it.
7. held interactions: peak memory while 100,000 interactions are held (an analytics result
   each, whose close has not arrived, for an after-close platform), on the SQLite ledger and,
   with Redis, on the Redis ledger; the limit is 300 MiB.

With ``--redis URL`` (default: ``ENRICHER_TEST_REDIS``, else a Redis answering on 127.0.0.1:6379;
``--redis none`` to skip), figures 1 and 2 are also run with the Redis ledger on the same
backlogs, in the same run as the SQLite rows, and the service's CPU per delivery on each
ledger is compared: what one store shared by every replica (and its delivery leases) costs.

The machine is shared: broker, vendor, producer and consumer compete for 2 cores, so the vendor's
CPU use is printed with each run to show it was not the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from bench._engine_support import (
    BareSpec,
    Child,
    Drain,
    Record,
    SequentialSpec,
    ServiceSpec,
    VendorClient,
    analytics_event,
    bare_main,
    closed_event,
    percentile,
    produce_backlog,
    produce_steadily,
    sequential_main,
    service_main,
    tenants_yaml,
)
from bench._server import Context, process_cpu_seconds, use_uvloop
from bench._vendor import VendorStub
from service.dev.broker import EmbeddedBroker
from service.kafka_admin import ensure_topics

PARTITIONS = 8
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
NEVER_ANSWERS_MS = 600_000
HELD_LIMIT_MIB = 300


@dataclass(frozen=True)
class Sizes:
    fast_events: int
    slow_events: int
    isolation_events: int
    steady_seconds: float
    sequential_seconds: float
    disk_seconds: float
    fast_rounds: int
    """Figures 1 and 6 alternate their runs this many times and compare medians: on a shared
    2-core machine either alone moved by a third between runs."""
    held_interactions: int


FULL = Sizes(20_000, 30_000, 8_000, 10.0, 6.0, 8.0, 3, 100_000)
QUICK = Sizes(4_000, 6_000, 2_000, 4.0, 3.0, 4.0, 1, 20_000)


@dataclass
class Row:
    figure: str
    value: float
    baseline: float | None
    unit: str
    target: str
    passed: bool | None


@dataclass
class Run:
    """One consumer run's measurements, printed as a line under its figure."""

    label: str
    drain: Drain
    vendor_cpu: float
    consumer_cpu: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_per_delivery(self) -> float:
        """The consumer's CPU microseconds per delivery (0 when not measured)."""
        return self.consumer_cpu / self.drain.count * 1e6 if self.drain.count else 0.0

    def describe(self) -> str:
        wall = max(self.drain.seconds, 1e-9)
        return (
            f"  {self.label:<34}{self.drain.count:>7} deliveries in {self.drain.seconds:6.2f} s"
            f" = {self.drain.rate:8,.0f}/s; vendor CPU {self.vendor_cpu / wall:4.0%} of a core"
            + (
                f"; consumer CPU {self.consumer_cpu / wall:4.0%} of a core,"
                f" {self.consumer_cpu / self.drain.count * 1e6:,.0f} µs per delivery"
                if self.consumer_cpu and self.drain.count
                else ""
            )
        )


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        context: Context,
        broker: str,
        http: aiohttp.ClientSession,
        vendors: tuple[VendorStub, VendorStub],
        workdir: str,
        ledger_dir: str,
    ) -> None:
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.context = context
        self.broker = broker
        self.fast_stub, self.dead_stub = vendors
        self.vendor = VendorClient(http, vendors[0].url)
        self.dead = VendorClient(http, vendors[1].url)
        self.workdir = workdir
        self.ledger_dir = ledger_dir
        self.rows: list[Row] = []
        self.peaks: dict[str, int] = {}
        self.bare_peak = 0

    # --- building blocks ---------------------------------------------------------------------

    async def backlog(self, records: list[Record]) -> str:
        topic = f"bench-{uuid.uuid4().hex[:10]}"
        await ensure_topics(self.broker, {topic: PARTITIONS})
        await produce_backlog(self.broker, topic, records)
        return topic

    def service_spec(
        self,
        topic: str,
        tenants: dict[str, tuple[str, float]],
        ledger_dir: str | None = None,
        redis: bool = False,
        profile: str | None = None,
    ) -> ServiceSpec:
        suffix = uuid.uuid4().hex[:10]
        ledger = (
            {"ledger_url": self.args.redis, "ledger_key_prefix": f"bench-{suffix}:"}
            if redis
            else {
                "ledger_url": f"sqlite:///{ledger_dir or self.ledger_dir}/ledger-{suffix}.sqlite3"
            }
        )
        settings = {
            "kafka_bootstrap_servers": self.broker,
            "kafka_enable_idempotence": False,
            "kafka_session_timeout": timedelta(seconds=6),
            "kafka_heartbeat_interval": timedelta(milliseconds=500),
            "create_topics": True,
            "topic_partitions": PARTITIONS,
            "topic_closed": topic,
            "topic_analytics": f"analytics-{suffix}",
            "topic_dlq": f"dlq-{suffix}",
            "topic_retry_prefix": f"retry-{suffix}.",
            "group_id": f"enricher-{suffix}",
            **ledger,
            "http_host": "127.0.0.1",
            "http_port": 0,
            "max_in_flight": self.args.max_in_flight,
            "lane_initial_concurrency": self.args.lane_initial_concurrency,
            "lane_queue_limit": self.args.lane_queue_limit or self.args.max_in_flight,
            "shutdown_drain": timedelta(seconds=3),
            "config": None,
        }
        return ServiceSpec(
            settings,
            tenants_yaml(tenants, self.args.max_concurrency),
            self._profile_path(profile) if profile else None,
        )

    def _profile_path(self, label: str) -> str | None:
        if not self.args.profile:
            return None
        os.makedirs(self.args.profile, exist_ok=True)
        return os.path.join(self.args.profile, f"{label}.pstats")

    async def measure(
        self, label: str, child: Child, vendor: VendorClient, stub: VendorStub, count: int
    ) -> Run:
        """Wait for the child to join, then for ``count`` deliveries at ``vendor``."""
        await child.joined()
        pid = child.process.pid or 0
        cpu_before = process_cpu_seconds(stub.pid) or 0.0
        consumer_before = process_cpu_seconds(pid) or 0.0
        drain = await vendor.wait_for(count, timeout=60 + count / 100, child=child)
        cpu = (process_cpu_seconds(stub.pid) or 0.0) - cpu_before
        consumer = (process_cpu_seconds(pid) or 0.0) - consumer_before
        if drain.count < count:
            print(f"  {label}: only {drain.count} of {count} delivered before the time limit")
        return Run(label, drain, cpu, consumer)

    async def steady_latency(self, topic: str, tag: str, rate: float) -> tuple[float, float, int]:
        """p50 and p99 seconds from the produce call to the vendor's receipt, and the count."""
        await self.vendor.reset()
        sent = await produce_steadily(
            self.broker,
            topic,
            lambda seq: closed_event("acme", tag, seq),
            rate,
            self.sizes.steady_seconds,
        )
        drain = await self.vendor.drain()
        deadline = time.monotonic() + 60
        while drain.count < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            drain = await self.vendor.drain()
        received = dict(await self.vendor.log())
        prefix = f"{tag}-"
        latencies = [
            received[f"{prefix}{seq}"] - at
            for seq, at in sent.items()
            if f"{prefix}{seq}" in received
        ]
        return percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies)

    async def stop(self, child: Child, run: Run, peak_name: str | None) -> None:
        run.report = await child.stop()
        if peak_name is not None:
            self.peaks[peak_name] = int(run.report.get("peak_kib", 0))
        print(run.describe())

    # --- figures -----------------------------------------------------------------------------

    async def fast_vendor(self) -> None:
        """Figures 1 and 4: the same backlog for the service and the bare consumer, each in its
        own topic, then a steady half-load on each."""
        count, rounds = self.sizes.fast_events, self.sizes.fast_rounds
        records = [closed_event("acme", "f1", seq) for seq in range(count)]
        service_topic, bare_topic = await self.backlog(records), await self.backlog(records)
        await self.vendor.set_latency(0)
        print(f"1/4. fast vendor (0 ms), service and bare consumer alternately, {rounds} rounds")

        services: list[float] = []
        cpus: list[float] = []
        bares: list[float] = []
        for number in range(1, rounds + 1):
            last = number == rounds  # the steady load comes last: it adds to the topics
            await self.vendor.reset()
            child = Child.start(
                self.context, service_main, self.service_spec(service_topic, self._acme_alone())
            )
            service = await self.measure("service", child, self.vendor, self.fast_stub, count)
            services.append(service.drain.rate)
            cpus.append(service.cpu_per_delivery)
            if last:
                rate = statistics.median(services) / 2
                p50, p99, seen = await self.steady_latency(service_topic, "s4", rate)
            await self.stop(child, service, "fast vendor")

            await self.vendor.reset()
            spec = BareSpec(
                self.broker,
                bare_topic,
                f"bare-{uuid.uuid4().hex[:8]}",
                self.fast_stub.url,
                self.args.max_concurrency,
                timeout=10,
            )
            child = Child.start(self.context, bare_main, spec)
            bare = await self.measure("bare consumer", child, self.vendor, self.fast_stub, count)
            bares.append(bare.drain.rate)
            if last:
                b50, b99, _ = await self.steady_latency(bare_topic, "b4", rate)
            await self.stop(child, bare, None)
            self.bare_peak = max(self.bare_peak, int(bare.report.get("peak_kib", 0)))
        print(f"  steady load {rate:,.0f}/s for {self.sizes.steady_seconds:g} s ({seen} matched)")
        value, base = statistics.median(services), statistics.median(bares)
        if rounds > 1:
            print(
                f"  medians of {rounds}: service {value:,.0f}/s, bare {base:,.0f}/s; ratios by"
                f" round {', '.join(f'{s / b:.2f}' for s, b in zip(services, bares, strict=True))}"
            )
        on_disk = await self.ledger_on_disk(service_topic)

        ratio = value / base if base else 0.0
        self.rows.append(Row("1 fast vendor", value, base, "/s", ">= 0.6x", ratio >= 0.6))
        if self.args.redis:
            await self.on_redis("1", service_topic, count, base, statistics.median(cpus))
        if on_disk is not None:
            ok = on_disk / base >= 0.6 if base else False
            self.rows.append(Row("1 fast vendor, disk ledger", on_disk, base, "/s", ">= 0.6x", ok))
        self.rows.append(Row("4 p50 at half load", p50 * 1e3, b50 * 1e3, "ms", "-", None))
        self.rows.append(Row("4 p99 at half load", p99 * 1e3, b99 * 1e3, "ms", "-", None))

    async def ledger_on_disk(self, topic: str) -> float | None:
        """Figure 1 again for a fixed time with the ledger on the working directory's disk,
        when the main runs keep it elsewhere (tmpfs): what per-merge fsync costs."""
        if os.stat(self.ledger_dir).st_dev == os.stat(self.workdir).st_dev:
            return None
        await self.vendor.reset()
        spec = self.service_spec(topic, self._acme_alone(), ledger_dir=self.workdir)
        child = Child.start(self.context, service_main, spec)
        await child.joined()
        await asyncio.sleep(self.sizes.disk_seconds)
        run = Run(
            f"service, ledger on disk ({self.sizes.disk_seconds:g} s)",
            await self.vendor.drain(),
            0.0,
        )
        await self.stop(child, run, None)
        return run.drain.rate

    async def slow_vendor(self) -> None:
        """Figure 2: 100 ms per PUT, 8 partitions, one interaction per event."""
        count = self.sizes.slow_events
        topic = await self.backlog([closed_event("acme", "f2", seq) for seq in range(count)])
        await self.vendor.set_latency(100)
        print("2. 100 ms vendor, 8 partitions")

        await self.vendor.reset()
        child = Child.start(
            self.context, service_main, self.service_spec(topic, self._acme_alone())
        )
        service = await self.measure("service", child, self.vendor, self.fast_stub, count)
        await self.stop(child, service, "100 ms vendor")

        await self.vendor.reset()
        spec = SequentialSpec(
            self.broker, topic, f"seq-{uuid.uuid4().hex[:8]}", self.fast_stub.url, PARTITIONS, 10
        )
        child = Child.start(self.context, sequential_main, spec)
        await child.joined()
        await asyncio.sleep(self.sizes.sequential_seconds)
        sequential = Run("sequential per partition", await self.vendor.drain(), 0.0)
        await self.stop(child, sequential, None)
        await self.vendor.set_latency(0)

        value, base = service.drain.rate, sequential.drain.rate
        ratio_ok = base > 0 and value / base >= 25
        self.rows.append(Row("2 100 ms vendor", value, base, "/s", ">= 25x", ratio_ok))
        self.rows.append(
            Row("2 100 ms vendor, absolute", value, None, "/s", ">= 2000", value >= 2000)
        )
        if self.args.redis:
            await self.vendor.set_latency(100)
            await self.on_redis("2", topic, count, base, service.cpu_per_delivery)
            await self.vendor.set_latency(0)

    async def on_redis(
        self, figure: str, topic: str, count: int, baseline: float, sqlite_cpu: float
    ) -> None:
        """Figure ``figure`` again on the same backlog with the Redis ledger: its rate against
        the same baseline, and its CPU per delivery against the SQLite runs'."""
        await self.vendor.reset()
        spec = self.service_spec(topic, self._acme_alone(), redis=True)
        child = Child.start(self.context, service_main, spec)
        run = await self.measure("service, Redis ledger", child, self.vendor, self.fast_stub, count)
        await self.stop(child, run, None)
        await _forget_redis_keys(self.args.redis, spec.settings["ledger_key_prefix"])
        rate = run.drain.rate
        target = ">= 0.6x" if figure == "1" else ">= 25x"
        self.rows.append(Row(f"{figure} Redis ledger", rate, baseline, "/s", target, None))
        self.rows.append(
            Row(
                f"{figure} CPU/delivery Redis:SQLite",
                run.cpu_per_delivery,
                sqlite_cpu,
                "us",
                "<= 1.5x",
                bool(sqlite_cpu) and run.cpu_per_delivery / sqlite_cpu <= 1.5,
            )
        )

    async def isolation(self) -> None:
        """Figure 3: globex alone, then with acme's vendor never answering in time."""
        count = self.sizes.isolation_events
        latency = self.args.isolation_latency_ms
        await self.vendor.set_latency(latency)
        await self.dead.set_latency(NEVER_ANSWERS_MS)
        tenants = {
            "globex": (self.fast_stub.url, 10.0),
            "acme": (self.dead_stub.url, self.args.dead_timeout),
        }
        print(
            f"3. isolation: globex vendor {latency:g} ms; acme vendor silent, "
            f"acme timeout {self.args.dead_timeout:g} s"
        )
        globex = [closed_event("globex", "g3", seq) for seq in range(count)]
        acme = [closed_event("acme", "a3", seq) for seq in range(count)]
        mixed = [record for pair in zip(globex, acme, strict=True) for record in pair]
        runs = []
        for label, records in (("globex alone", globex), ("globex beside dead acme", mixed)):
            runs.append(await self._isolation_run(label, records, tenants, count))
        solo, shared = runs[0].drain.rate, runs[1].drain.rate
        ratio = shared / solo if solo else 0.0
        self.rows.append(Row("3 isolation (globex)", shared, solo, "/s", ">= 0.9x", ratio >= 0.9))
        _print_acme("acme while dead", runs[1])

        # The same beside a vendor that answers every call, slowly: neither failing nor
        # stalled, so only the fair share of a full pipeline keeps acme from taking it all.
        slow_ms, slow_timeout = self.args.slow_latency_ms, self.args.slow_timeout
        await self.dead.set_latency(slow_ms)
        print(f"3b. globex beside acme answering in {slow_ms:g} ms (timeout {slow_timeout:g} s)")
        tenants["acme"] = (self.dead_stub.url, slow_timeout)
        slow = await self._isolation_run("globex beside slow acme", mixed, tenants, count)
        beside = slow.drain.rate
        self.rows.append(Row("3b isolation, slow acme", beside, solo, "/s", "-", None))
        _print_acme("acme while slow", slow)
        await self.vendor.set_latency(0)
        await self.dead.set_latency(NEVER_ANSWERS_MS)

    async def _isolation_run(
        self,
        label: str,
        records: list[Record],
        tenants: dict[str, tuple[str, float]],
        globex_count: int,
    ) -> Run:
        """The service on ``records``, timed by globex's ``globex_count`` deliveries alone."""
        topic = await self.backlog(records)
        await self.vendor.reset()
        child = Child.start(self.context, service_main, self.service_spec(topic, tenants))
        run = await self.measure(label, child, self.vendor, self.fast_stub, globex_count)
        await self.stop(child, run, f"isolation: {label}")
        return run

    async def configured_tenants(self) -> None:
        """Figure 6: one busy tenant's backlog with 1 and with many configured tenants (all
        but one idle, all on the same vendor), alternately, each in its own consumer group on
        the same topic. The engine's per-record work must not walk every tenant."""
        count, rounds = self.sizes.fast_events, self.sizes.fast_rounds
        counts = self.args.tenant_counts
        topic = await self.backlog([closed_event("acme", "f6", seq) for seq in range(count)])
        await self.vendor.set_latency(0)
        print(
            f"6. configured tenants {' / '.join(f'{n:,}' for n in counts)}, one busy, fast "
            f"vendor, {count:,} closes, {rounds} rounds"
        )
        rates: dict[int, list[float]] = {n: [] for n in counts}
        cpus: dict[int, list[float]] = {n: [] for n in counts}
        peaks: dict[int, int] = dict.fromkeys(counts, 0)
        for number in range(1, rounds + 1):
            for n in counts:
                await self.vendor.reset()
                spec = self.service_spec(
                    topic, self._acme_among(n), profile=f"tenants-{n}-round-{number}"
                )
                child = Child.start(self.context, service_main, spec)
                label = f"service, {n:,} tenants"
                run = await self.measure(label, child, self.vendor, self.fast_stub, count)
                await self.stop(child, run, None)
                rates[n].append(run.drain.rate)
                cpus[n].append(run.cpu_per_delivery)
                peaks[n] = max(peaks[n], int(run.report.get("peak_kib", 0)))
        rate = {n: statistics.median(values) for n, values in rates.items()}
        cpu = {n: statistics.median(values) for n, values in cpus.items()}
        for n in counts:
            print(
                f"  {n:>6,} tenants: {rate[n]:8,.0f} deliveries/s (median), {cpu[n]:5,.0f} µs of "
                f"CPU per delivery, peak {peaks[n] / 1024:4.0f} MiB"
            )
        few, many = counts[0], counts[-1]
        self.rows.append(
            Row(
                f"6 {many:,}:{few:,} tenants",
                rate[many],
                rate[few],
                "/s",
                ">= 0.9x",
                bool(rate[few]) and rate[many] / rate[few] >= 0.9,
            )
        )
        self.rows.append(
            Row(
                f"6 CPU/delivery {many:,}:{few:,}",
                cpu[many],
                cpu[few],
                "us",
                "<= 1.1x",
                bool(cpu[few]) and cpu[many] / cpu[few] <= 1.1,
            )
        )
        self.rows.append(
            Row(
                f"6 peak RSS {many:,}:{few:,}",
                peaks[many] / 1024,
                peaks[few] / 1024,
                "MiB",
                "-",
                None,
            )
        )

    async def held_memory(self) -> None:
        """Figure 7: the service's peak memory once every interaction of the backlog is held
        (an analytics result without its close, for an after-close platform), on each ledger.
        """
        count = self.sizes.held_interactions
        topic = await self.backlog([analytics_event("acme", "h7", seq) for seq in range(count)])
        print(
            f"7. {count:,} interactions held (analytics without a close), limit "
            f"{HELD_LIMIT_MIB} MiB"
        )
        ledgers = [("SQLite", False)] + ([("Redis", True)] if self.args.redis else [])
        judged = count == FULL.held_interactions
        for name, redis in ledgers:
            spec = self.service_spec(topic, self._acme_alone(), redis=redis)
            child = Child.start(self.context, service_main, spec)
            began = await child.joined()
            held = await _wait_until_held(child, count, timeout=60 + count / 100)
            seconds = time.time() - began
            report = await child.stop()
            peak = int(report.get("peak_kib", 0)) / 1024
            print(
                f"  {name + ' ledger':<34}{held:>7} held in {seconds:6.2f} s; peak {peak:.0f} MiB"
            )
            if redis:
                await _forget_redis_keys(self.args.redis, spec.settings["ledger_key_prefix"])
            self.rows.append(
                Row(
                    f"7 peak RSS, {count:,} held, {name}",
                    peak,
                    None,
                    "MiB",
                    f"< {HELD_LIMIT_MIB}" if judged else "-",
                    (held >= count and peak < HELD_LIMIT_MIB) if judged else None,
                )
            )

    def memory(self) -> None:
        name, peak = max(self.peaks.items(), key=lambda item: item[1])
        print(
            f"5. peak memory: {', '.join(f'{k} {v / 1024:.0f} MiB' for k, v in self.peaks.items())}"
        )
        self.rows.append(
            Row(f"5 peak RSS ({name})", peak / 1024, self.bare_peak / 1024, "MiB", "-", None)
        )

    def _acme_alone(self) -> dict[str, tuple[str, float]]:
        return {"acme": (self.fast_stub.url, 10.0)}

    def _acme_among(self, count: int) -> dict[str, tuple[str, float]]:
        """acme and ``count - 1`` idle tenants on the same vendor."""
        idle = {f"idle-{n:05d}": (self.fast_stub.url, 10.0) for n in range(1, count)}
        return {**self._acme_alone(), **idle}


async def _wait_until_held(child: Child, count: int, timeout: float) -> int:
    """Poll the child's counters until ``count`` changes are held; returns how many were."""
    deadline = time.monotonic() + timeout
    while True:
        report = await child.progress()
        held = int(report.get("metrics", {}).get("enricher_held_total", 0))
        if held >= count or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.5)


async def _forget_redis_keys(url: str, prefix: str) -> None:
    """A benchmark's ledger is not kept: its keys would expire only after the retention."""
    from redis.asyncio import Redis

    async with Redis.from_url(url) as client:
        batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(batch), 1000):
            await client.delete(*batch[start : start + 1000])


def _default_redis() -> str | None:
    """``ENRICHER_TEST_REDIS``, else the local Redis if it answers, else None (no rows)."""
    configured = os.environ.get("ENRICHER_TEST_REDIS", "").strip()
    if configured:
        return configured
    import redis

    client = redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=1, socket_timeout=2)
    try:
        return LOCAL_REDIS if client.ping() else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def _print_acme(label: str, run: Run) -> None:
    metrics = run.report.get("metrics", {})
    interesting = {
        k.removeprefix("enricher_"): v
        for k, v in sorted(metrics.items())
        if v and any(word in k for word in ("retried", "parked", "spilled", "dead"))
    }
    print(f"  {label}: {interesting or 'no retries, parking or spills'}")


def print_table(rows: list[Row]) -> None:
    print()
    header = f"{'figure':<30}{'value':>12}{'baseline':>12}{'ratio':>9}  {'target':<10}result"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = f"{row.baseline:,.1f}" if row.baseline is not None else "-"
        ratio = f"{row.value / row.baseline:.2f}" if row.baseline else "-"
        mark = {True: "pass", False: "MISS", None: ""}[row.passed]
        value = f"{row.value:,.1f} {row.unit}"
        print(f"{row.figure:<30}{value:>12}{base:>12}{ratio:>9}  {row.target:<10}{mark}")


async def main_async(args: argparse.Namespace) -> None:
    context: Context = multiprocessing.get_context("spawn")
    began = time.monotonic()
    with (
        VendorStub(context) as fast,
        VendorStub(context) as dead,
        tempfile.TemporaryDirectory(prefix="enricher-bench-") as workdir,
        tempfile.TemporaryDirectory(prefix="enricher-bench-", dir=args.ledger_dir) as ledgers,
    ):
        async with EmbeddedBroker(discard_output=True) as broker, aiohttp.ClientSession() as http:
            bench = Bench(
                args, context, broker.bootstrap_servers, http, (fast, dead), workdir, ledgers
            )
            print(
                f"settings: max_in_flight {args.max_in_flight}, lane_queue_limit "
                f"{args.lane_queue_limit or args.max_in_flight}, lane_initial_concurrency "
                f"{args.lane_initial_concurrency}, tenant max_concurrency {args.max_concurrency}"
                f" (also the bare consumer's), rate limit 100000/s; {PARTITIONS} partitions;"
                f" ledger in {bench.ledger_dir}"
            )
            if "1" in args.only:
                await bench.fast_vendor()
            if "2" in args.only:
                await bench.slow_vendor()
            if "3" in args.only:
                await bench.isolation()
            if "6" in args.only:
                await bench.configured_tenants()
            if "7" in args.only:
                await bench.held_memory()
            if bench.peaks:
                bench.memory()
            print_table(bench.rows)
    print(f"\nwall time {time.monotonic() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller backlogs (about 90 s)")
    parser.add_argument("--max-in-flight", type=int, default=2048)
    parser.add_argument("--lane-initial-concurrency", type=int, default=64)
    parser.add_argument(
        "--lane-queue-limit",
        type=int,
        default=0,
        help="0: max_in_flight; the default of 1000 spills a single-tenant backlog deeper than "
        "it to the 30 s retry tier, which measures the tier delay instead of the engine",
    )
    parser.add_argument("--max-concurrency", type=int, default=256)
    parser.add_argument("--isolation-latency-ms", type=float, default=100.0)
    parser.add_argument("--dead-timeout", type=float, default=1.0)
    parser.add_argument(
        "--slow-latency-ms",
        type=float,
        default=2000.0,
        help="3b: acme's vendor answers after this long (256 at a time: 128 calls/s at 2 s)",
    )
    parser.add_argument("--slow-timeout", type=float, default=10.0)
    parser.add_argument(
        "--ledger-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the services keep their SQLite ledgers (default: tmpfs, so the engine and "
        "not the disk's fsync is measured; figure 1 is also run briefly with the ledger on disk)",
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="Redis URL for the Redis-ledger rows of figures 1, 2 and 7 (default: "
        "ENRICHER_TEST_REDIS, else a Redis answering on 127.0.0.1:6379); 'none' skips them",
    )
    parser.add_argument(
        "--tenant-counts",
        default="1,1000",
        help="figure 6: configured tenants per run, comma-separated; the first and the last "
        "are compared (default 1,1000)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="figure 6: write each service run's cProfile statistics (its thread, from joining "
        "to the stop) to DIR/tenants-<count>-round-<n>.pstats",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--only",
        default="12367",
        help="which runs to make: 1 (figures 1 and 4), 2, 3, 6, 7, in any combination "
        "(default 12367)",
    )
    args = parser.parse_args()
    args.tenant_counts = [int(n) for n in args.tenant_counts.split(",")]
    args.redis = None if args.redis == "none" else args.redis or _default_redis()
    use_uvloop(wanted=not args.no_uvloop)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
