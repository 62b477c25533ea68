"""Serving an ASGI app with uvicorn inside the caller's event loop.

The service, ``enricher dev`` and the tests all run several servers (the service's probes and
the vendor simulators) beside a Kafka consumer in one loop, and the process owner, not
uvicorn, decides what a signal means; so uvicorn's own signal capture is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["AppServer"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AppServer:
    """``async with AppServer(app) as server:`` serves on ``server.url`` until the block ends.

    ``port=0`` takes a free port; the bound one is in ``server.port`` once entered.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> AppServer:
        self._task = asyncio.create_task(self._server.serve(), name=f"http:{self.port}")
        while not self._server.started:
            if self._task.done():
                # Startup failed (port taken, say): surface uvicorn's error, not a hang.
                self._task.result()
                raise RuntimeError(f"HTTP server on {self.host}:{self.port} did not start")
            await asyncio.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
