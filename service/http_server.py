"""Serving an ASGI app with uvicorn inside the caller's event loop.

The service's probes, the vendor simulators and the tests run HTTP servers beside a Kafka
consumer in one loop, so a server must share the running loop, report the port the OS picked,
stop cleanly, and leave process-wide things alone: signals belong to the host process, and
access logs are switched off per server rather than on uvicorn's global logger (which would
also silence every other server in the process).
"""

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["LOOPBACK", "AppServer"]

LOOPBACK = "127.0.0.1"


class _NoAccessLogProtocol(HttpToolsProtocol):
    """uvicorn decides on access logging per connection from the shared logger; override it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that installs no signal handlers and says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.listening.set()


def _bind(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts, so a busy port is a plain OSError and port 0 is known.

    The protocol is named explicitly: asyncio only sets TCP_NODELAY on connections whose socket
    says IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class AppServer:
    """Async context manager serving one ASGI app on ``host`` (loopback by default).

    ``port=0`` lets the OS pick a free port; ``port`` and ``url`` give the bound one once the
    server is listening.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        access_log: bool = False,
        startup_timeout: float = 10.0,
        shutdown_timeout: int = 5,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._access_log = access_log
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the HTTP server is not started")
        return self._port

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.listening.is_set()

    @property
    def url(self) -> str:
        """A URL a client on this machine can use (a wildcard bind is reached on loopback)."""
        host = {"0.0.0.0": LOOPBACK, "::": "::1", "": LOOPBACK}.get(self.host, self.host)  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the HTTP server is already started")
        sock = _bind(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._server = _EmbeddedServer(self._uvicorn_config())
        self._task = asyncio.create_task(_serve(self._server, sock), name=f"http {self.url}")
        try:
            await self._wait_listening(self._server, self._task)
        except BaseException:
            await self._abort()
            raise

    async def stop(self) -> None:
        """Graceful: stop accepting, let open requests finish within ``shutdown_timeout``."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        finally:
            self._server = None
            self._task = None

    def _uvicorn_config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            http="auto" if self._access_log else _NoAccessLogProtocol,
            ws="none",
            lifespan="auto",
            log_config=None,
            access_log=True,
            server_header=False,
            timeout_graceful_shutdown=self._shutdown_timeout,
        )

    async def _wait_listening(self, server: _EmbeddedServer, task: asyncio.Task[None]) -> None:
        listening = asyncio.create_task(server.listening.wait())
        try:
            await asyncio.wait(
                {listening, task},
                timeout=self._startup_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            listening.cancel()
        if server.listening.is_set():
            return
        if task.done():
            task.result()
            raise RuntimeError("the HTTP server exited during startup")
        raise TimeoutError(f"the HTTP server did not start in {self._startup_timeout} s")

    async def _abort(self) -> None:
        if self._server is not None:
            self._server.should_exit = self._server.force_exit = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = None
        self._task = None


async def _serve(server: _EmbeddedServer, sock: socket.socket) -> None:
    """Keep uvicorn's startup ``sys.exit`` from escaping the task and stopping the host loop."""
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        raise RuntimeError(f"the HTTP server failed to start (exit {exc.code})") from exc
    finally:
        sock.close()
