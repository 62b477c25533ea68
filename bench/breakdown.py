"""Where a delivery's CPU goes: figure 1's two consumers taken apart by substitution.

``bench.engine`` compares whole processes: the service against a bare consumer that makes one
PUT per event. This benchmark says what the difference is made of. Each variant runs in its own
spawned process on uvloop and reads the same records from memory (the package's in-memory broker,
:mod:`service.kafka_memory`, so the broker is not measured twice), and the figure is the
child's own CPU time (``time.process_time``, every thread) from its first record to its last
delivery, per delivery:

- ``bare``: one PUT per record through the service's ``AiohttpTransport``, 256 in flight;
- ``bare, instant PUTs``: the same, with PUTs answered at once without IO;
- ``service``: the real pipeline, lanes, NICE adapter and SQLite ledger (on tmpfs), real HTTP;
- ``service, memory ledger``: the in-memory ledger instead of SQLite;
- ``service, instant PUTs`` and ``service, memory ledger, instant PUTs``.

The vendor is ``bench._vendor``'s stub in a further process; the token and discovery requests
always go to it. The differences give HTTP per delivery (in each consumer), the SQLite ledger
per delivery, and the engine without either (merge, lanes, mapping, offsets, metrics) against
the bare consumer's own loop.

The machine is shared and its speed drifts between runs by more than some of these parts, so
variants alternate round by round, medians are printed, and a fixed pure-Python workload is
timed in each child before its run: ``norm`` is a variant's figure in units of that workload,
comparable across rounds and days.

Run ``python -m bench.breakdown [--rounds 5] [--records 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from bench._engine_support import (
    SECRETS,
    _child_main,
    _put,
    _token,
    closed_event,
    tenants_yaml,
)
from bench._server import Context, use_uvloop
from bench._vendor import VendorStub
from service.admin.recorder import OutcomeRecorder
from service.delivery.lanes import Lanes
from service.gc_tuning import tune_collector
from service.health import Health
from service.kafka_memory import MemoryBroker
from service.ledger.base import Ledger
from service.ledger.memory import MemoryLedger
from service.ledger.opening import open_ledger
from service.ledger.resilient import ResilientLedger
from service.logs import configure_logging
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.platforms.registry import build_adapter
from service.redaction import Redactor
from service.runtime import lane_config
from service.settings import Settings
from service.tenants import parse_tenants
from service.transport import AiohttpTransport, HttpRequest, HttpResponse, Transport

__all__ = ["Components", "components", "main"]

PARTITIONS = 8
CONCURRENCY = 256
TOPIC = "breakdown"


@dataclass(frozen=True)
class Variant:
    label: str
    service: bool
    http: bool
    sqlite: bool = True


VARIANTS = (
    Variant("bare", service=False, http=True),
    Variant("bare, instant PUTs", service=False, http=False),
    Variant("service", service=True, http=True),
    Variant("service, memory ledger", service=True, http=True, sqlite=False),
    Variant("service, instant PUTs", service=True, http=False),
    Variant("service, memory ledger, instant PUTs", service=True, http=False, sqlite=False),
)


@dataclass(frozen=True)
class Setup:
    """What every child of one benchmark run shares."""

    records: int
    vendor: str
    ledger_dir: str
    max_in_flight: int


def _backlog(count: int) -> MemoryBroker:
    """A broker holding one ``interaction.closed`` per interaction, spread over the partitions
    as keys would be."""
    tag = uuid.uuid4().hex[:8]
    broker = MemoryBroker()
    broker.create_topic(TOPIC, PARTITIONS)
    for seq in range(count):
        key, value = closed_event("acme", tag, seq)
        broker.append(TOPIC, key, value, (), partition=seq % PARTITIONS)
    return broker


class _CountingTransport:
    """Counts accepted PUTs and says when ``target`` is reached; answers PUTs at once, without
    IO, when ``instant``. Every other request (discovery, tokens) goes to the real vendor."""

    def __init__(self, inner: Transport, target: int, *, instant: bool) -> None:
        self._inner = inner
        self._target = target
        self._instant = instant
        self.count = 0
        self.done = asyncio.Event()

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        if request.method != "PUT":
            return await self._inner.send(request, timeout)
        if self._instant:
            await asyncio.sleep(0)  # a PUT still yields to the loop once, as IO would
            response = HttpResponse(204, {}, b"")
        else:
            response = await self._inner.send(request, timeout)
        if 200 <= response.status < 300:  # a failed PUT is retried, and counts only then
            self.count += 1
        if self.count >= self._target:
            self.done.set()
        return response

    async def close(self) -> None:
        await self._inner.close()


class _Refuse:
    """The retry-topic and DLQ sinks: nothing in this workload may be parked or dead-lettered."""

    async def send(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a record was parked or dead-lettered; the figure would be wrong")


def calibration_us(loops: int = 40_000) -> float:
    """CPU microseconds per loop of a fixed mix of dict, JSON and iteration work."""
    sample = {"account": "A-1", "case": 1, "tags": [1, 2, 3], "note": "x" * 24}
    began = time.process_time()
    for i in range(loops):
        item = dict(sample)
        item["i"] = i
        json.dumps(item)
        _ = [k for k in item]
    return (time.process_time() - began) * 1e6 / loops


async def _bare(broker: MemoryBroker, transport: _CountingTransport, vendor: str) -> None:
    """As ``bench.engine``'s bare consumer: batches from the consumer, one task per PUT."""
    token = await _token(transport, vendor)
    consumer = broker.consumer(group_id="bare")
    consumer.subscribe([TOPIC])
    await consumer.start()
    unread = len(broker.records(TOPIC))
    slots = asyncio.Semaphore(CONCURRENCY)
    tasks: set[asyncio.Task[None]] = set()

    async def deliver(value: bytes) -> None:
        try:
            await transport.send(_put(vendor, token, value), 10)
        finally:
            slots.release()

    while not transport.done.is_set():
        for batch in (await consumer.getmany(timeout_ms=100, max_records=CONCURRENCY)).values():
            unread -= len(batch)
            for record in batch:
                await slots.acquire()
                task = asyncio.create_task(deliver(record.value or b""))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if not unread:
            await transport.done.wait()


async def _service(
    broker: MemoryBroker, transport: _CountingTransport, setup: Setup, ledger_url: str | None
) -> Callable[[], Awaitable[None]]:
    """Start the pipeline on ``broker``'s backlog, return once every record is delivered, with
    how to stop it (outside the measured time)."""
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:9",  # never dialled: the consumer is a stand-in
        topic_closed=TOPIC,
        group_id="breakdown",
        ledger_url=ledger_url or "sqlite:///:memory:",
        lane_initial_concurrency=64,
        max_in_flight=setup.max_in_flight,
        lane_queue_limit=setup.max_in_flight,
        config=None,
    )
    tenants = parse_tenants(
        tenants_yaml({"acme": (setup.vendor, 10.0)}, CONCURRENCY), environ=SECRETS
    )
    backend: Ledger = open_ledger(settings.ledger_url) if ledger_url else MemoryLedger()
    ledger = ResilientLedger(backend)
    metrics = Metrics()
    adapters = {n: build_adapter(t, transport) for n, t in tenants.tenants.items()}
    lanes = Lanes(
        tenants.tenants,
        adapters,
        ledger,
        metrics,
        lane_config(settings),
        on_attempt=OutcomeRecorder(redact=Redactor([])).record,
    )
    pipeline = Pipeline(
        settings=settings,
        tenants=tenants.tenants,
        ledger=ledger,
        lanes=lanes,
        dead_letters=_Refuse(),
        parking=_Refuse(),
        metrics=metrics,
        health=Health(),
        redactor=Redactor([]),
        consumer_factory=broker.consumer,
    )
    run = asyncio.create_task(pipeline.run())

    async def stop() -> None:
        pipeline.stop()
        await run
        await ledger.close()

    delivered = asyncio.create_task(transport.done.wait())
    await asyncio.wait([run, delivered], return_when=asyncio.FIRST_COMPLETED)
    delivered.cancel()
    if run.done():
        run.result()  # the pipeline failed: say why
        raise RuntimeError("the pipeline stopped before delivering every record")
    return stop


async def _measure(variant: Variant, setup: Setup) -> dict[str, float]:
    configure_logging("json", "error", Redactor([]))
    count = setup.records
    backlog = _backlog(count)
    calibration = calibration_us()
    transport = _CountingTransport(AiohttpTransport(), count, instant=not variant.http)
    ledger_url = (
        f"sqlite:///{setup.ledger_dir}/ledger-{uuid.uuid4().hex[:8]}.sqlite3"
        if variant.sqlite
        else None
    )
    tune_collector()  # as ``enricher run`` does, for both consumers
    began = time.process_time()
    if variant.service:
        stop = await _service(backlog, transport, setup, ledger_url)
        cpu = time.process_time() - began
        await stop()
    else:
        await _bare(backlog, transport, setup.vendor)
        cpu = time.process_time() - began
    await transport.close()
    return {"us": cpu * 1e6 / count, "calibration": calibration}


async def _measure_and_report(variant: Variant, setup: Setup, conn: Connection) -> None:
    conn.send(("done", await _measure(variant, setup)))


def _child(variant: Variant, setup: Setup, conn: Connection) -> None:
    _child_main(lambda c: _measure_and_report(variant, setup, c), conn)


def _run_child(context: Context, variant: Variant, setup: Setup) -> dict[str, float]:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(variant, setup, sender), name=variant.label)
    process.start()
    sender.close()
    try:
        if not receiver.poll(120 + setup.records / 100):
            raise TimeoutError(f"{variant.label}: no result")
        kind, payload = receiver.recv()
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
    if kind != "done":
        raise RuntimeError(f"{variant.label} failed: {payload}")
    result: dict[str, float] = payload
    return result


@dataclass(frozen=True)
class Components:
    """Per-delivery parts, in microseconds, derived from the variants' medians."""

    bare_http: float
    service_http: float
    sqlite_ledger: float
    engine_over_bare: float
    """The service without HTTP and without SQLite, less the bare consumer without HTTP."""


def components(us: Mapping[str, float]) -> Components:
    return Components(
        bare_http=us["bare"] - us["bare, instant PUTs"],
        service_http=us["service, memory ledger"] - us["service, memory ledger, instant PUTs"],
        sqlite_ledger=us["service"] - us["service, memory ledger"],
        engine_over_bare=us["service, memory ledger, instant PUTs"] - us["bare, instant PUTs"],
    )


def _report(results: dict[str, list[dict[str, float]]]) -> None:
    medians = {label: statistics.median(r["us"] for r in runs) for label, runs in results.items()}
    norms = {
        label: statistics.median(r["us"] / r["calibration"] for r in runs)
        for label, runs in results.items()
    }
    print(f"\n{'variant':<40}{'µs/delivery':>12}{'norm':>8}  rounds")
    for label, runs in results.items():
        rounds = ", ".join(f"{r['us']:.0f}" for r in runs)
        print(f"{label:<40}{medians[label]:>12.1f}{norms[label]:>8.1f}  {rounds}")
    parts = components(medians)
    base = medians["bare"]
    print(
        f"\nratio bare / service (figure 1's shape, without the broker): "
        f"{base / medians['service']:.2f}"
    )
    print("per delivery, from the medians:")
    print(f"  HTTP, bare consumer                     {parts.bare_http:7.1f} µs")
    print(f"  HTTP, service                           {parts.service_http:7.1f} µs")
    print(f"  SQLite ledger (against the memory one)  {parts.sqlite_ledger:7.1f} µs")
    print(f"  engine beyond the bare loop             {parts.engine_over_bare:7.1f} µs")
    print(f"  service budget for a 0.6 ratio          {base / 0.6:7.1f} µs in all")


async def _main_async(args: argparse.Namespace) -> None:
    # Spawned, not forked: the children must not inherit this process's event loop or threads.
    context = multiprocessing.get_context("spawn")
    results: dict[str, list[dict[str, float]]] = {v.label: [] for v in VARIANTS}
    began = time.monotonic()
    with (
        VendorStub(context) as stub,
        tempfile.TemporaryDirectory(dir=args.ledger_dir) as ledger_dir,
    ):
        setup = Setup(args.records, stub.url, ledger_dir, args.max_in_flight)
        for number in range(1, args.rounds + 1):
            for variant in VARIANTS:
                result = await asyncio.to_thread(_run_child, context, variant, setup)
                results[variant.label].append(result)
            line = ", ".join(f"{label} {runs[-1]['us']:.0f}" for label, runs in results.items())
            print(f"round {number}/{args.rounds} (µs per delivery): {line}", flush=True)
    _report(results)
    print(f"\nwall time {time.monotonic() - began:.0f} s; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--ledger-dir", default="/dev/shm", help="where the SQLite ledgers go")
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=2048,
        help="the service's max_in_flight and lane_queue_limit (the defaults, as bench.engine)",
    )
    args = parser.parse_args()
    use_uvloop(wanted=True)
    asyncio.run(_main_async(args))


if __name__ == "__main__":
    main()
