"""The moving parts of the engine benchmark: events, producing, the consumers under test in
their own processes, and the vendor's control API.

Every consumer (the service and both baselines) runs in a spawned child process on uvloop, so
it shares no event loop with the producer or the vendor, and its peak resident memory
(``VmHWM``) is its own. A child reports ``("joined", epoch)`` once it reads, keeps consuming
until the parent sends ``"stop"``, and then reports ``("done", {...})`` with its peak memory
and counters.
"""

from __future__ import annotations

import asyncio
import cProfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench._server import Context, raise_open_file_limit, use_uvloop
from service.transport import AiohttpTransport, HttpRequest, Transport

__all__ = [
    "BareSpec",
    "Child",
    "Drain",
    "SequentialSpec",
    "ServiceSpec",
    "VendorClient",
    "analytics_event",
    "closed_event",
    "percentile",
    "produce_backlog",
    "produce_steadily",
    "tenants_yaml",
]

CONTACT_PATH = "/business-data-manager/v1/business-data/contact/"
SECRETS = {"CLIENT_SECRET": "bench-secret", "KEY_ID": "bench-key", "KEY_SECRET": "bench-key"}
Record = tuple[bytes, bytes]


# --- events ------------------------------------------------------------------------------------


def closed_event(tenant: str, tag: str, seq: int) -> Record:
    """One ``interaction.closed`` per interaction, with its own contact, so nothing coalesces.

    The contact id carries ``tag`` and ``seq`` so the vendor's request log can be matched to
    the moment each event was produced.
    """
    interaction = f"{tag}-call-{seq:07d}"
    body = {
        "type": "interaction.closed",
        "version": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-20T10:15:00Z",
        "tenant": tenant,
        "interaction_id": interaction,
        "channel": "voice",
        "ref": {"contact_id": f"{tag}-{seq}", "segment_id": "b2e28d4e"},
        "status": "Handled",
        "data": {"crm_account": f"A-{seq}", "case_number": seq, "vip": seq % 3 == 0},
    }
    return f"{tenant}:{interaction}".encode(), orjson.dumps(body)


def analytics_event(tenant: str, tag: str, seq: int) -> Record:
    """An ``analytics.result`` for an interaction whose close has not arrived: an after-close
    platform (NICE) holds its change in the ledger until the close comes."""
    interaction = f"{tag}-call-{seq:07d}"
    body = {
        "type": "analytics.result",
        "version": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-20T10:16:00Z",
        "tenant": tenant,
        "interaction_id": interaction,
        "source": "speech",
        "data": {"sentiment": "positive", "score": seq % 100, "topic": f"topic-{seq % 50}"},
    }
    return f"{tenant}:{interaction}".encode(), orjson.dumps(body)


def tenants_yaml(tenants: dict[str, tuple[str, float]], max_concurrency: int) -> str:
    """NICE tenants (name -> issuer URL, delivery timeout in seconds) with limits raised so the
    engine, not a tenant's configured budget, is what is measured."""
    blocks = []
    for name, (issuer, timeout) in tenants.items():
        blocks.append(
            f"""  {name}:
    platform: nice-cxone
    nice-cxone:
      issuer: {issuer}
      client_id: enricher-bench
      client_secret: ${{CLIENT_SECRET}}
      access_key_id: ${{KEY_ID}}
      access_key_secret: ${{KEY_SECRET}}
    delivery: {{max_attempts: 4, timeout: {timeout:g}s}}
    limits: {{rate_per_second: 100000, max_concurrency: {max_concurrency}}}
    fields:
      CrmAccount: {{from: crm_account}}
      CaseNumber: {{from: case_number, type: string}}
      Vip: {{from: vip, type: boolean}}
"""
        )
    return "tenants:\n" + "".join(blocks)


# --- producing ---------------------------------------------------------------------------------


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def produce_backlog(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        pending = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def produce_steadily(
    bootstrap: str, topic: str, make: Callable[[int], Record], rate: float, seconds: float
) -> dict[int, float]:
    """Produce ``rate`` records per second for ``seconds`` in 10 ms ticks; returns each
    record's send time (epoch seconds) by sequence number."""
    producer = _producer(bootstrap)
    await producer.start()
    sent: dict[int, float] = {}
    pending = []
    try:
        began = time.monotonic()
        total = int(rate * seconds)
        while len(sent) < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            for seq in range(len(sent), due):
                key, value = make(seq)
                sent[seq] = time.time()
                pending.append(await producer.send(topic, value=value, key=key))
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the vendor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drain:
    """Deliveries the vendor answered between its first and last answer."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return (self.count - 1) / self.seconds if self.count > 1 and self.seconds > 0 else 0.0


class VendorClient:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self.url = url

    async def _call(self, method: str, path: str) -> Any:
        async with self._session.request(method, self.url + path) as response:
            response.raise_for_status()
            return await response.json() if response.status == 200 else None

    async def reset(self) -> None:
        await self._call("DELETE", "/_stub/log")

    async def set_latency(self, ms: float) -> None:
        await self._call("PUT", f"/_stub/latency/{ms:g}")

    async def drain(self) -> Drain:
        stats = await self._call("GET", "/_stub/stats")
        return Drain(int(stats["puts"]), float(stats["last"]) - float(stats["first"]))

    async def log(self) -> list[tuple[str, float]]:
        return [(str(c), float(t)) for c, t in await self._call("GET", "/_stub/log")]

    async def wait_for(self, count: int, timeout: float, child: Child) -> Drain:
        """Poll until ``count`` deliveries were answered; a stall is reported, not hidden."""
        deadline = time.monotonic() + timeout
        while True:
            drain = await self.drain()
            if drain.count >= count or time.monotonic() > deadline:
                return drain
            child.raise_if_dead()
            await asyncio.sleep(0.1)


# --- children ----------------------------------------------------------------------------------


def peak_rss_kib() -> int:
    """The process's high-water resident set, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Child:
    """A consumer under test in its own process, driven over a pipe."""

    process: BaseProcess
    conn: Connection
    joined_at: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, context: Context, target: Callable[..., None], spec: object) -> Child:
        parent, child = context.Pipe()
        process = context.Process(target=target, args=(spec, child), daemon=True)
        process.start()
        child.close()
        return cls(process, parent)

    def raise_if_dead(self) -> None:
        if not self.process.is_alive():
            raise RuntimeError(f"{self.process.name} exited with {self.process.exitcode}")

    async def _receive(self, timeout: float) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.conn.poll():
            self.raise_if_dead()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.process.name} did not answer within {timeout:g} s")
            await asyncio.sleep(0.05)
        message: tuple[str, Any] = self.conn.recv()
        if message[0] == "error":
            raise RuntimeError(f"{self.process.name} failed: {message[1]}")
        return message

    async def joined(self, timeout: float = 60) -> float:
        _, self.joined_at = await self._receive(timeout)
        return self.joined_at

    async def progress(self, timeout: float = 60) -> dict[str, Any]:
        """The child's report while it keeps consuming (peak memory and counters so far)."""
        self.conn.send("report")
        _, report = await self._receive(timeout)
        return dict(report)

    async def stop(self, timeout: float = 60) -> dict[str, Any]:
        self.conn.send("stop")
        try:
            _, self.report = await self._receive(timeout)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        return self.report


def _child_main(run: Callable[[Connection], Any], conn: Connection) -> None:
    raise_open_file_limit()
    use_uvloop(wanted=True)
    try:
        asyncio.run(run(conn))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


async def _stop_requested(conn: Connection, report: Callable[[], dict[str, Any]]) -> None:
    """Answer ``"report"`` requests with ``report()`` until ``"stop"`` arrives. The pipe is
    read on a thread but answered from the loop, so no two threads use it at once."""
    while await asyncio.to_thread(conn.recv) == "report":
        conn.send(("report", report()))


def _nothing() -> dict[str, Any]:
    return {}


# --- the service -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    settings: dict[str, Any]
    tenants_yaml: str
    profile: str | None = None
    """A path: the service's thread is profiled (cProfile) from joining to the stop, and the
    statistics written there, for finding where a figure's CPU goes."""


def _metric_totals(registry: Any) -> dict[str, float]:
    totals: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                reason = sample.labels.get("reason")
                name = f"{sample.name}[{reason}]" if reason else sample.name
                totals[name] = totals.get(name, 0.0) + sample.value
    return totals


async def _run_service(spec: ServiceSpec, conn: Connection) -> None:
    from service.gc_tuning import tune_collector
    from service.logs import configure_logging
    from service.redaction import Redactor
    from service.runtime import Service
    from service.settings import Settings
    from service.tenants import parse_tenants

    configure_logging("json", "error", Redactor([]))
    service = Service(Settings(**spec.settings), parse_tenants(spec.tenants_yaml, environ=SECRETS))
    tune_collector()  # as ``enricher run`` does
    task = asyncio.create_task(service.run(handle_signals=False))
    while not service.health.joined:
        if task.done():
            task.result()
            raise RuntimeError("the service stopped before joining its group")
        await asyncio.sleep(0.02)
    conn.send(("joined", time.time()))

    def report() -> dict[str, Any]:
        return {"peak_kib": peak_rss_kib(), "metrics": _metric_totals(service.metrics.registry)}

    profiler = cProfile.Profile()
    if spec.profile:
        profiler.enable()
    await _stop_requested(conn, report)
    if spec.profile:
        profiler.disable()
        profiler.dump_stats(spec.profile)
    service.stop()
    await task
    conn.send(("done", report()))


def service_main(spec: ServiceSpec, conn: Connection) -> None:
    _child_main(lambda c: _run_service(spec, c), conn)


# --- the baselines -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BareSpec:
    """aiokafka consume, one PUT per event, ``concurrency`` in flight, auto-commit."""

    bootstrap: str
    topic: str
    group: str
    vendor: str
    concurrency: int
    timeout: float


@dataclass(frozen=True)
class SequentialSpec:
    """The Kafka Connect HTTP sink model: one PUT at a time per partition."""

    bootstrap: str
    topic: str
    group: str
    vendor: str
    partitions: int
    timeout: float


async def _token(transport: Transport, vendor: str) -> str:
    response = await transport.send(HttpRequest("POST", vendor + "/auth", {}, b""), 10)
    token: str = orjson.loads(response.body)["access_token"]
    return token


def _put(vendor: str, token: str, value: bytes) -> HttpRequest:
    """What the NICE adapter sends for the event, built with no merge, ledger or lane."""
    event = orjson.loads(value)
    data = event["data"]
    body = orjson.dumps(
        [
            {"CrmAccount": data["crm_account"]},
            {"CaseNumber": str(data["case_number"])},
            {"Vip": data["vip"]},
        ]
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": event["event_id"],
    }
    return HttpRequest("PUT", vendor + CONTACT_PATH + event["ref"]["contact_id"], headers, body)


async def _run_bare(spec: BareSpec, conn: Connection) -> None:
    transport = AiohttpTransport()
    token = await _token(transport, spec.vendor)
    consumer = AIOKafkaConsumer(
        spec.topic,
        bootstrap_servers=spec.bootstrap,
        group_id=spec.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    slots = asyncio.Semaphore(spec.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    failures = 0

    async def deliver(value: bytes) -> None:
        nonlocal failures
        try:
            response = await transport.send(_put(spec.vendor, token, value), spec.timeout)
            failures += response.status != 204
        finally:
            slots.release()

    async def consume() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=spec.concurrency)
            for records in batches.values():
                for record in records:
                    await slots.acquire()
                    task = asyncio.create_task(deliver(record.value))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

    while not consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event for it
        await asyncio.sleep(0.02)
    conn.send(("joined", time.time()))
    worker = asyncio.create_task(consume())
    await _stop_requested(conn, _nothing)
    worker.cancel()
    await consumer.stop()
    await transport.close()
    conn.send(("done", {"peak_kib": peak_rss_kib(), "failures": failures}))


async def _run_sequential(spec: SequentialSpec, conn: Connection) -> None:
    transport = AiohttpTransport()
    token = await _token(transport, spec.vendor)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=spec.bootstrap,
        group_id=spec.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    partitions = [TopicPartition(spec.topic, p) for p in range(spec.partitions)]
    consumer.assign(partitions)

    async def partition_task(tp: TopicPartition) -> None:
        while True:
            records = (await consumer.getmany(tp, timeout_ms=200, max_records=50)).get(tp, [])
            for record in records:
                await transport.send(_put(spec.vendor, token, record.value), spec.timeout)
            if records:
                await consumer.commit({tp: records[-1].offset + 1})

    conn.send(("joined", time.time()))
    workers = [asyncio.create_task(partition_task(tp)) for tp in partitions]
    await _stop_requested(conn, _nothing)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await consumer.stop()
    await transport.close()
    conn.send(("done", {"peak_kib": peak_rss_kib()}))


def bare_main(spec: BareSpec, conn: Connection) -> None:
    _child_main(lambda c: _run_bare(spec, c), conn)


def sequential_main(spec: SequentialSpec, conn: Connection) -> None:
    _child_main(lambda c: _run_sequential(spec, c), conn)
