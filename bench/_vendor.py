"""A NICE CXone stand-in fast enough not to be what the engine benchmark measures.

The FastAPI simulator (``service.simulators.nice_cxone``) answers about 2,000 PUTs per second
on a whole core of these machines, about what the engine is expected to reach, so an engine
figure against it would be the simulator's figure. This stub speaks the same wire protocol the
NICE adapter uses (OIDC discovery, the password grant with a JWT carrying ``tenantId``,
``PUT .../contact/{id}`` answered ``204``) as a bare ``asyncio.Protocol`` with httptools on
uvloop in its own process, and keeps only what the benchmark reads: when each contact's PUT
arrived.

Control surface (loopback, plain HTTP):

- ``GET /_stub/stats`` -> ``{"puts", "first", "last"}``: answered PUTs and the epoch times of
  the first and last answer since the last reset.
- ``GET /_stub/log`` -> ``[[contact_id, received_at], ...]`` for every PUT since the reset.
- ``DELETE /_stub/log`` -> resets both.
- ``PUT /_stub/latency/{ms}`` -> every later PUT is answered after ``ms`` milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import cast

import httptools
import orjson

from bench._server import Context, raise_open_file_limit, use_uvloop

__all__ = ["TENANT_ID", "VendorStub"]

TENANT_ID = "11111111-2222-3333-4444-555555555555"
CONTACT_PATH = b"/business-data-manager/v1/business-data/contact/"
_HEAD = "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token() -> str:
    """Unsigned framing is enough: the adapter only reads the ``tenantId`` routing claim."""
    claims = {"tenantId": TENANT_ID, "exp": int(time.time()) + 86_400}
    return f"{_b64(b'{}')}.{_b64(orjson.dumps(claims))}.sig"


def _json(status: str, body: object) -> bytes:
    payload = orjson.dumps(body)
    return _HEAD.format(status=status, length=len(payload)).encode() + payload


@dataclass
class _State:
    base: str
    latency: float = 0.0
    puts: int = 0
    first: float = 0.0
    last: float = 0.0
    log: list[tuple[str, float]] = field(default_factory=list)

    def reset(self) -> None:
        self.puts, self.first, self.last = 0, 0.0, 0.0
        self.log = []

    def answered_put(self) -> None:
        now = time.time()
        self.puts += 1
        self.first = self.first or now
        self.last = now

    def route(self, method: bytes, url: bytes) -> bytes | None:
        """The response for a non-PUT request; None means a contact PUT."""
        path = url.split(b"?", 1)[0]
        if method == b"PUT" and path.startswith(CONTACT_PATH):
            self.log.append((path[len(CONTACT_PATH) :].decode(), time.time()))
            return None
        if path == b"/.well-known/openid-configuration":
            return _json("200 OK", {"issuer": self.base, "token_endpoint": f"{self.base}/auth"})
        if path == b"/.well-known/cxone-configuration":
            return _json("200 OK", {"api_endpoint": self.base, "area": "na1"})
        if path == b"/auth":
            return _json("200 OK", {"access_token": _token(), "expires_in": 86_400})
        return self._control(method, path)

    def _control(self, method: bytes, path: bytes) -> bytes:
        if path == b"/_stub/stats":
            return _json("200 OK", {"puts": self.puts, "first": self.first, "last": self.last})
        if path == b"/_stub/log" and method == b"GET":
            return _json("200 OK", self.log)
        if path == b"/_stub/log" and method == b"DELETE":
            self.reset()
            return NO_CONTENT
        if path.startswith(b"/_stub/latency/") and method == b"PUT":
            self.latency = float(path.rsplit(b"/", 1)[1]) / 1000
            return NO_CONTENT
        return _json("404 Not Found", {"error": "not_found"})


class _Protocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url = url

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        response = self._state.route(method, self._url)
        if response is not None:
            self._write(response, counts=False)
        elif self._state.latency > 0:
            self._loop.call_later(self._state.latency, self._write, NO_CONTENT, True)
        else:
            self._write(NO_CONTENT, counts=True)

    def _write(self, response: bytes, counts: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client gave up (a timeout): not a delivery
        transport.write(response)
        if counts:
            self._state.answered_put()


async def _serve(latency: float, ready: Connection) -> None:
    loop = asyncio.get_running_loop()
    state = _State(base="")
    server = await loop.create_server(
        lambda: _Protocol(state), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    state.base, state.latency = f"http://127.0.0.1:{port}", latency
    ready.send(port)
    ready.close()
    await server.serve_forever()


def _main(latency: float, ready: Connection) -> None:
    raise_open_file_limit()
    use_uvloop(wanted=True)
    asyncio.run(_serve(latency, ready))


class VendorStub:
    """The stub in a child process: ``with VendorStub(ctx) as vendor: vendor.url``."""

    def __init__(self, context: Context, latency: float = 0.0) -> None:
        self._context = context
        self._latency = latency
        self._process: BaseProcess | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        if self._process is None or self._process.pid is None:
            raise RuntimeError("the vendor stub is not running")
        return self._process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> VendorStub:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_main, args=(self._latency, sender), name="vendor-stub", daemon=True
        )
        process.start()
        self._process = process
        sender.close()
        if not receiver.poll(30):
            self.__exit__(None, None, None)
            raise RuntimeError("the vendor stub did not start within 30 s")
        self.port = receiver.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
