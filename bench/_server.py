"""A stub vendor for the HTTP client benchmark, run in its own process.

The server must never be what limits a client measurement, and it must not share the client's
event loop. So it is a bare ``asyncio.Protocol`` on uvloop with httptools parsing (a raw
protocol server on these machines answered about 100 k requests/s on one core, several times
what any Python client reaches), it lives in a separate process, and each measurement reads its
CPU time from ``/proc``, so the table shows how far from its own ceiling it was.

Every request gets ``204 No Content`` on a kept-alive connection, at once or after a fixed
latency scheduled with ``loop.call_later`` (what ``asyncio.sleep`` does underneath, without a
task per request).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import cast

import httptools

__all__ = [
    "Context",
    "StubServer",
    "process_context",
    "process_cpu_seconds",
    "raise_open_file_limit",
    "use_uvloop",
]

KEEP_ALIVE = b"HTTP/1.1 204 No Content\r\nServer: stub\r\n\r\n"
CLOSE = b"HTTP/1.1 204 No Content\r\nServer: stub\r\nConnection: close\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


Context = ForkContext | SpawnContext


def process_context() -> Context:
    """Fork where there is fork: children start in milliseconds with everything imported."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def raise_open_file_limit() -> None:
    """A thousand kept-alive connections need a thousand descriptors on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def use_uvloop(wanted: bool) -> bool:
    """Installs uvloop's policy when asked and available; returns whether it is in use."""
    if not wanted:
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU of another process, from ``/proc`` (None where there is none).

    Fields 14 and 15 of ``/proc/<pid>/stat`` count clock ticks; the command name in field 2 may
    hold spaces, so the fields are counted from its closing parenthesis.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class _StubProtocol(asyncio.Protocol):
    """One connection: parse requests with httptools and answer each one with a 204."""

    def __init__(self, latency: float) -> None:
        self._latency = latency
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._answer(BAD_REQUEST, close=True)

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        response = KEEP_ALIVE if keep_alive else CLOSE
        if self._latency > 0:
            self._loop.call_later(self._latency, self._answer, response, not keep_alive)
        else:
            self._answer(response, not keep_alive)

    def _answer(self, response: bytes, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        if close:
            transport.close()


async def _serve(latency: float, ready: Connection) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _StubProtocol(latency), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    ready.send(server.sockets[0].getsockname()[1])
    ready.close()
    await server.serve_forever()


def _main(latency: float, ready: Connection) -> None:
    raise_open_file_limit()
    use_uvloop(wanted=True)
    asyncio.run(_serve(latency, ready))


class StubServer:
    """The stub vendor in a child process; ``with StubServer(0.05) as server: server.port``."""

    def __init__(self, latency: float, context: Context) -> None:
        self.latency = latency
        self._context = context
        self._process: BaseProcess | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        if self._process is None or self._process.pid is None:
            raise RuntimeError("the stub vendor is not running")
        return self._process.pid

    def start(self) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_main, args=(self.latency, sender), name="stub-vendor", daemon=True
        )
        self._process.start()
        sender.close()
        if not receiver.poll(30):
            self.stop()
            raise RuntimeError("the stub vendor did not start within 30 s")
        self.port = receiver.recv()
        receiver.close()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()

    def __enter__(self) -> StubServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
