"""``enricher simulate``: one vendor simulator on a port, until cancelled."""

import asyncio
from collections.abc import Callable

import service.simulators
from service.http_server import LOOPBACK, AppServer

__all__ = ["run_simulator"]


async def run_simulator(
    name: str,
    port: int,
    *,
    host: str = LOOPBACK,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve the simulator registered as ``name`` with its default config until cancelled.

    ``on_started`` receives the base URL once the server listens (useful with ``port=0``).
    """
    factory = service.simulators.SIMULATORS.get(name)
    if factory is None:
        known = ", ".join(sorted(service.simulators.SIMULATORS))
        raise ValueError(f"unknown simulator {name!r}; known: {known}")
    async with AppServer(factory(), host=host, port=port) as server:
        if on_started is not None:
            on_started(server.url)
        await asyncio.Event().wait()
