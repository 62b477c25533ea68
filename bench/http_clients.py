"""Vendor-call throughput and latency for the HTTP clients the service could use.

The service holds hundreds of calls in flight to slow vendors, and its HTTP client is what
limits it (about 65-90 us of CPU per aiohttp request; httpx's default pool degrades with the
square of the connection count). httpx's API stays only if a transport for it comes within 10%
of aiohttp here; otherwise vendor calls use aiohttp. Compared, on one shared pool each:

(a) the service's ``AiohttpTransport`` (what the service really sends with),
(b) ``httpx.AsyncClient`` on the httpx-aiohttp transport,
(c) plain ``httpx.AsyncClient`` with its default transport and pool limits raised to N.

Run ``python -m bench.http_clients [--quick]``. A stub vendor in a separate process answers
``204`` at once and then, in a second phase, after a fixed latency (50 ms). For each client and
level of N requests in flight (N tasks looping ``PUT`` with a 1 KB JSON body), a fresh child
process warms up until every slot has been answered, then measures consecutive windows timed by
a thread of its own: requests/s is the median over the windows, p50/p99 pool the latencies of
every request completed in them. Every figure is printed with its ratio to (a) measured in the
same run, because absolute figures on a shared 2-core machine are noisy.

httpx's collapse cannot hang the run: windows end on time even while its pool holds the event
loop for seconds, the result is sent before any teardown (closing a collapsed httpx pool can take
minutes), and a child that still does not report within its time cap is killed. A level is shown
as collapsed when it produced no figures or answered less than half its best rate at a lower N.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from multiprocessing.connection import Connection
from typing import Protocol

import httpx
import httpx_aiohttp
import orjson

from bench._server import (
    Context,
    StubServer,
    process_context,
    process_cpu_seconds,
    raise_open_file_limit,
    use_uvloop,
)
from service.transport import AiohttpTransport, HttpRequest

BASELINE = "a"
VERDICT_LEVEL = 256
WITHIN = 0.10
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench-token"}


def _body() -> bytes:
    """About 1 KB of merged interaction fields, the size of a typical vendor update."""
    fields = {
        "Sentiment": "negative",
        "SentimentScore": -0.62,
        "Topics": ["billing", "cancel", "retention", "payment-plan"],
        "CrmAccount": "A-0042137",
        "CaseNumber": "00912873",
        "Channel": "voice",
        "Status": "Handled",
        "Summary": "Customer disputed the last invoice and asked to cancel. " * 12,
        "Agent": {"id": "agent-1187", "team": "retention-emea", "skill": "billing-escalation"},
    }
    body = {"interaction_id": "call-000042", "tenant": "acme", "fields": fields}
    return orjson.dumps(body)


BODY = _body()


class Client(Protocol):
    """All a worker needs. No close: a child exits without tearing its pool down."""

    async def put(self, url: str, body: bytes) -> int: ...


class ServiceAiohttp:
    """(a): the service's own transport, so its header copying and response reading count.

    Its pool is sized to N like the others: the service's default of 256 connections per host
    would queue 1,024 requests in flight onto 256 connections.
    """

    def __init__(self, concurrency: int, timeout: float) -> None:
        self._transport = AiohttpTransport(max_connections=concurrency, max_per_host=concurrency)
        self._timeout = timeout

    async def put(self, url: str, body: bytes) -> int:
        request = HttpRequest("PUT", url, HEADERS, body)
        return (await self._transport.send(request, self._timeout)).status


class Httpx:
    """(b) and (c): one ``httpx.AsyncClient``; only the transport underneath differs."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def put(self, url: str, body: bytes) -> int:
        return (await self._client.put(url, content=body, headers=HEADERS)).status_code


def _limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


def httpx_on_aiohttp(concurrency: int, timeout: float) -> Client:
    transport = httpx_aiohttp.AiohttpTransport(limits=_limits(concurrency))
    return Httpx(httpx.AsyncClient(transport=transport, timeout=timeout))


def plain_httpx(concurrency: int, timeout: float) -> Client:
    return Httpx(httpx.AsyncClient(limits=_limits(concurrency), timeout=timeout))


@dataclass(frozen=True)
class ClientKind:
    key: str
    label: str
    make: Callable[[int, float], Client]


CLIENTS = {
    kind.key: kind
    for kind in (
        ClientKind("a", "(a) aiohttp (service)", ServiceAiohttp),
        ClientKind("b", "(b) httpx + httpx-aiohttp", httpx_on_aiohttp),
        ClientKind("c", "(c) httpx, default pool", plain_httpx),
    )
}


@dataclass(frozen=True)
class RunSpec:
    """Everything one child process needs to measure one client at one level."""

    client: str
    concurrency: int
    latency: float
    url: str
    server_pid: int
    warmup: float
    warmup_max: float
    window: float
    repeats: int
    uvloop: bool
    timeout: float


@dataclass(frozen=True)
class Window:
    seconds: float
    ok: int
    errors: int
    cpu: float
    """Client process CPU seconds spent during the window."""
    server_cpu: float | None
    latencies: list[float]


@dataclass(frozen=True)
class RunOutcome:
    windows: list[Window] = field(default_factory=list)
    oldest_in_flight: float = 0.0
    """Age of the oldest request still unanswered when measuring ended."""
    first_error: str = ""
    timed_out: bool = False
    warm_slots: int = 0
    """How many of the N slots had an answer when measuring began (all, unless starved)."""


class Recorder:
    """What the workers completed, append-only so another thread can cut windows by index.

    Only the event loop's thread writes; the window thread reads lengths and counters, which
    the GIL keeps consistent without a lock that the hot path would pay for.
    """

    def __init__(self, concurrency: int) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error = ""
        self.started: list[float | None] = [None] * concurrency
        self.answered = [False] * concurrency
        self.slots_answered = 0

    def oldest_in_flight(self, now: float) -> float:
        pending = [started for started in self.started if started is not None]
        return now - min(pending, default=now)

    def failed(self, exc: BaseException | None, status: int = 0) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}" if exc else f"HTTP {status}"


async def worker(slot: int, client: Client, url: str, recorder: Recorder) -> None:
    """One request in flight, forever: the service's shape when every slot is busy."""
    while True:
        started = time.perf_counter()
        recorder.started[slot] = started
        try:
            status = await client.put(url, BODY)
        except Exception as exc:
            recorder.failed(exc)
            continue
        finally:
            recorder.started[slot] = None
        if status == 204:
            recorder.latencies.append(time.perf_counter() - started)
            if not recorder.answered[slot]:
                recorder.answered[slot] = True
                recorder.slots_answered += 1
        else:
            recorder.failed(None, status)


@dataclass(frozen=True)
class Mark:
    """Counters at one cut between windows."""

    at: float
    completed: int
    errors: int
    cpu: float
    server_cpu: float | None

    @classmethod
    def take(cls, recorder: Recorder, server_pid: int) -> Mark:
        return cls(
            time.perf_counter(),
            len(recorder.latencies),
            recorder.errors,
            time.process_time(),
            process_cpu_seconds(server_pid),
        )


def window_between(recorder: Recorder, start: Mark, end: Mark) -> Window:
    server = None
    if start.server_cpu is not None and end.server_cpu is not None:
        server = end.server_cpu - start.server_cpu
    return Window(
        seconds=end.at - start.at,
        ok=end.completed - start.completed,
        errors=end.errors - start.errors,
        cpu=end.cpu - start.cpu,
        server_cpu=server,
        latencies=recorder.latencies[start.completed : end.completed],
    )


def warm_up(spec: RunSpec, recorder: Recorder) -> None:
    """At least ``warmup`` seconds, then until every slot has been answered once, so that all N
    connections are open before measuring (a thousand take a while on a busy machine); never
    past ``warmup_max``, because a collapsing pool may starve some slots indefinitely."""
    time.sleep(spec.warmup)
    deadline = time.perf_counter() - spec.warmup + spec.warmup_max
    while recorder.slots_answered < spec.concurrency and time.perf_counter() < deadline:
        time.sleep(0.01)


def cut_windows(spec: RunSpec, recorder: Recorder, results: Connection) -> None:
    """Times the windows from a thread, sends the outcome and ends the process.

    A collapsing client can hold its event loop for seconds per iteration, so a timer inside
    that loop would stretch the windows without bound; this thread needs only the GIL, which
    the loop hands over every few milliseconds. Exiting without closing the pool keeps a
    collapsed pool's teardown (minutes for httpx with a thousand connections) out of the run.
    """
    warm_up(spec, recorder)
    warm_slots = recorder.slots_answered
    marks = [Mark.take(recorder, spec.server_pid)]
    for _ in range(spec.repeats):
        time.sleep(spec.window)
        marks.append(Mark.take(recorder, spec.server_pid))
    windows = [window_between(recorder, a, b) for a, b in itertools.pairwise(marks)]
    oldest = recorder.oldest_in_flight(time.perf_counter())
    results.send(RunOutcome(windows, oldest, recorder.first_error, warm_slots=warm_slots))
    results.close()
    os._exit(0)


async def load(spec: RunSpec, results: Connection) -> None:
    """Keeps N requests in flight until the window thread ends the process."""
    client = CLIENTS[spec.client].make(spec.concurrency, spec.timeout)
    recorder = Recorder(spec.concurrency)
    workers = [
        asyncio.create_task(worker(slot, client, spec.url, recorder))
        for slot in range(spec.concurrency)
    ]
    windows = threading.Thread(target=cut_windows, args=(spec, recorder, results), daemon=True)
    windows.start()
    await asyncio.gather(*workers)


def child_main(spec: RunSpec, results: Connection) -> None:
    raise_open_file_limit()
    use_uvloop(spec.uvloop)
    try:
        asyncio.run(load(spec, results))
    except BaseException as exc:
        results.send(RunOutcome(first_error=f"{type(exc).__name__}: {exc}"))
    os._exit(1)


def run_child(spec: RunSpec, cap: float, context: Context) -> RunOutcome:
    """One client at one level in a fresh process; killed and marked as timed out past ``cap``."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=child_main, args=(spec, sender), daemon=True)
    process.start()
    sender.close()
    try:
        outcome = receiver.recv() if receiver.poll(cap) else RunOutcome(timed_out=True)
    except EOFError:
        outcome = RunOutcome(first_error="the child exited without a result")
    receiver.close()
    process.join(2)
    if process.is_alive():
        process.kill()
        process.join()
    assert isinstance(outcome, RunOutcome)
    return outcome


# --- pure summary and formatting -------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    client: str
    concurrency: int
    rates: list[float]
    p50: float | None
    p99: float | None
    cpu_per_request: float | None
    server_cpu_share: float | None
    errors: int
    collapsed: str
    """Why this client broke down at this level, or empty."""
    note: str = ""

    @property
    def rate(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return None
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]


def collapse_reason(outcome: RunOutcome) -> str:
    """Why a run has no usable figures: it never reported, or a window finished nothing."""
    if outcome.timed_out:
        return "no result within the time cap"
    if not outcome.windows:
        return outcome.first_error or "no result"
    if any(w.ok == 0 for w in outcome.windows):
        return " ".join(("a window completed no request", outcome.first_error)).strip()
    return ""


def starvation_note(outcome: RunOutcome, concurrency: int, p99: float | None) -> str:
    """Completed requests alone hide starvation: say when slots never got an answer during
    warm-up, or when an unanswered request is far older than the p99 of the answered ones."""
    notes = []
    if outcome.windows and outcome.warm_slots < concurrency:
        notes.append(f"only {outcome.warm_slots} of {concurrency} slots answered in warm-up")
    if p99 is not None and outcome.oldest_in_flight > 2 * p99:
        notes.append(
            f"p99 understated: a request unanswered after {outcome.oldest_in_flight:.2f} s"
        )
    return "; ".join(notes)


def summarize(client: str, concurrency: int, outcome: RunOutcome) -> Row:
    windows = outcome.windows
    latencies = sorted(x for w in windows for x in w.latencies)
    ok = sum(w.ok for w in windows)
    seconds = sum(w.seconds for w in windows)
    server = [w.server_cpu for w in windows]
    server_share = (
        sum(s for s in server if s is not None) / seconds
        if windows and None not in server
        else None
    )
    p99 = percentile(latencies, 0.99)
    return Row(
        client=client,
        concurrency=concurrency,
        rates=[w.ok / w.seconds for w in windows if w.seconds > 0],
        p50=percentile(latencies, 0.50),
        p99=p99,
        cpu_per_request=sum(w.cpu for w in windows) / ok if ok else None,
        server_cpu_share=server_share,
        errors=sum(w.errors for w in windows),
        collapsed=collapse_reason(outcome),
        note=starvation_note(outcome, concurrency, p99),
    )


def mark_throughput_collapse(rows: Sequence[Row]) -> list[Row]:
    """More requests in flight must never mean fewer answered: flag a fall below half the
    client's best rate at a lower N in the same phase (httpx's pool: 1,193 -> 33 req/s)."""
    return [_against_lower_levels(row, rows) for row in rows]


def _against_lower_levels(row: Row, rows: Sequence[Row]) -> Row:
    lower = [
        other.rate
        for other in rows
        if other.client == row.client
        and other.concurrency < row.concurrency
        and other.rate is not None
    ]
    best = max(lower, default=None)
    if row.collapsed or row.rate is None or not best or row.rate >= best / 2:
        return row
    return replace(row, collapsed=f"{row.rate / best:.2f}x its best rate at a lower N")


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


COLUMNS = (
    ("N", 6),
    ("req/s", 10),
    ("x(a)", 7),
    ("p50 ms", 10),
    ("x(a)", 7),
    ("p99 ms", 10),
    ("x(a)", 7),
    ("cpu us", 8),
    ("srv%", 6),
    ("spread%", 9),
    ("errors", 8),
)
LABEL = 27
HEADER = f"{'client':<{LABEL}}" + "".join(f"{name:>{width}}" for name, width in COLUMNS)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def format_row(row: Row, base: Row | None) -> str:
    """``base`` is (a) at the same N; without it the ratio columns stay empty."""
    spread = (max(row.rates) - min(row.rates)) / row.rate if row.rate else None
    rate, p50, p99 = (base.rate, base.p50, base.p99) if base else (None, None, None)
    cells = (
        str(row.concurrency),
        _number(row.rate, ",.0f"),
        _number(ratio(row.rate, rate), ".2f"),
        _number(_ms(row.p50), ",.2f"),
        _number(ratio(row.p50, p50), ".2f"),
        _number(_ms(row.p99), ",.2f"),
        _number(ratio(row.p99, p99), ".2f"),
        _number(row.cpu_per_request and row.cpu_per_request * 1e6, ",.0f"),
        _number(row.server_cpu_share and row.server_cpu_share * 100, ".0f"),
        _number(spread and spread * 100, ".0f"),
        str(row.errors),
    )
    line = f"{CLIENTS[row.client].label:<{LABEL}}" + "".join(
        f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)
    )
    notes = [f"collapsed: {row.collapsed}" if row.collapsed else "", row.note]
    return "  ".join([line, *filter(None, notes)])


def format_phase(latency: float, rows: Sequence[Row]) -> list[str]:
    """One block per server latency, grouped by N so each client sits beside its baseline."""
    lines = [f"server latency {latency * 1000:g} ms", HEADER]
    for concurrency in sorted({row.concurrency for row in rows}):
        level = [row for row in rows if row.concurrency == concurrency]
        baseline = next((row for row in level if row.client == BASELINE), None)
        lines.extend(format_row(row, baseline) for row in level)
        if latency > 0:
            limit = f"{concurrency / latency:,.0f}"
            lines.append(f"{'  limit: N / latency':<{LABEL + 6}}{limit:>10}")
    return lines


def verdict(phases: dict[float, list[Row]]) -> str:
    """Whether httpx on the aiohttp transport is within 10% of aiohttp at 256 in flight."""
    ratios: list[str] = []
    within = True
    for latency, rows in phases.items():
        level = {row.client: row for row in rows if row.concurrency == VERDICT_LEVEL}
        a, b = level.get("a"), level.get("b")
        if a is None or b is None:
            continue
        share = ratio(b.rate, a.rate)
        within = within and share is not None and share >= 1 - WITHIN and not b.collapsed
        shown = "-" if share is None else f"{share:.3f}x"
        broke = " (collapsed)" if b.collapsed else ""
        ratios.append(f"{shown} of (a)'s req/s at {latency * 1000:g} ms{broke}")
    if not ratios:
        return f"verdict: not measured ((a) and (b) at {VERDICT_LEVEL} in flight are both needed)"
    answer = (
        "WITHIN 10%: httpx's API may stay, on the httpx-aiohttp transport"
        if within
        else "NOT within 10%: use aiohttp for vendor calls"
    )
    return f"verdict: at {VERDICT_LEVEL} in flight (b) reaches {', '.join(ratios)} -> {answer}"


# --- command line ------------------------------------------------------------------------------


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer levels, shorter windows: under 40 s"
    )
    parser.add_argument("--levels", type=_levels, help="N with no latency (1,16,64,256)")
    parser.add_argument(
        "--latency-levels", type=_levels, help="N with latency (1,16,64,256,1024); '' skips"
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="0 skips that phase")
    parser.add_argument("--clients", default="abc", help="any of a, b, c")
    parser.add_argument("--repeats", type=int, default=3, help="windows per level")
    parser.add_argument("--window", type=float, help="seconds per window (1.5; quick 0.4)")
    parser.add_argument("--warmup", type=float, help="least seconds before measuring (0.5; 0.25)")
    parser.add_argument(
        "--warmup-max", type=float, help="most seconds waiting for every slot's answer (3; 1.5)"
    )
    parser.add_argument("--cap", type=float, help="seconds before a level counts as collapsed")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="uvloop, like the service"
    )
    args = parser.parse_args(argv)
    if args.levels is None:
        args.levels = [1, 16, 256] if args.quick else [1, 16, 64, 256]
    if args.latency_levels is None:
        args.latency_levels = [16, 256, 1024] if args.quick else [1, 16, 64, 256, 1024]
    args.window = args.window or (0.4 if args.quick else 1.5)
    args.warmup = args.warmup or (0.25 if args.quick else 0.5)
    args.warmup_max = max(args.warmup, args.warmup_max or (1.5 if args.quick else 3.0))
    args.cap = args.cap or args.warmup_max + args.repeats * args.window + 10
    unknown = set(args.clients) - set(CLIENTS)
    if unknown or BASELINE not in args.clients:
        parser.error(f"--clients takes letters from {''.join(CLIENTS)} and must include a")
    return args


def phases(args: argparse.Namespace) -> list[tuple[float, list[int]]]:
    planned = [(0.0, args.levels)]
    if args.latency_ms > 0 and args.latency_levels:
        planned.append((args.latency_ms / 1000, args.latency_levels))
    return planned


def describe(args: argparse.Namespace) -> list[str]:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("aiohttp", "httpx", "httpcore", "httpx-aiohttp", "uvloop")
    )
    sniffio = "installed" if importlib.util.find_spec("sniffio") else "not installed"
    runs = sum(len(levels) for _, levels in phases(args)) * len(args.clients)
    per_run = args.warmup + args.repeats * args.window
    return [
        f"Python {sys.version.split()[0]}, loop {args.loop}, {versions}; sniffio {sniffio}",
        f"PUT of {len(BODY)} bytes, answered 204 by a stub in its own process; each pool holds"
        f" N connections. {runs} runs of {args.warmup:g} s warm-up + {args.repeats} x"
        f" {args.window:g} s windows (about {runs * (per_run + 0.2):.0f} s; cap {args.cap:g} s)",
        "req/s: median of the windows; p50/p99: all requests completed in them; x(a): ratio to"
        " (a) at the same N; cpu us: client CPU per request; srv%: stub server CPU (one core is"
        " 100); spread%: (max - min) / median of the windows",
    ]


def run_phase(
    args: argparse.Namespace,
    latency: float,
    levels: Sequence[int],
    context: Context,
) -> list[Row]:
    rows: list[Row] = []
    with StubServer(latency, context) as server:
        for concurrency in levels:
            for client in args.clients:
                spec = RunSpec(
                    client=client,
                    concurrency=concurrency,
                    latency=latency,
                    url=f"http://127.0.0.1:{server.port}/v1/interactions/call-000042/fields",
                    server_pid=server.pid,
                    warmup=args.warmup,
                    warmup_max=args.warmup_max,
                    window=args.window,
                    repeats=args.repeats,
                    uvloop=args.loop == "uvloop",
                    timeout=args.cap,
                )
                outcome = run_child(spec, args.cap, context)
                rows.append(summarize(client, concurrency, outcome))
    return mark_throughput_collapse(rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    context = process_context()
    for line in describe(args):
        print(line)
    started = time.perf_counter()
    results: dict[float, list[Row]] = {}
    for latency, levels in phases(args):
        results[latency] = run_phase(args, latency, levels, context)
        print()
        print("\n".join(format_phase(latency, results[latency])), flush=True)
    print()
    print(verdict(results))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
