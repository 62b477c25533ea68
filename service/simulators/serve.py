"""``enricher simulate``: one vendor simulator on a port, until cancelled."""

import asyncio
from collections.abc import Callable, Mapping

from fastapi import FastAPI

from service.http_server import LOOPBACK, AppServer
from service.platforms.registry import specs

__all__ = ["run_simulator", "simulators"]


def simulators() -> Mapping[str, Callable[..., FastAPI]]:
    """Every platform that has a simulator, by id: each factory builds an independent app with
    its dev defaults when called bare."""
    return {spec.id: spec.simulator for spec in specs().values() if spec.simulator is not None}


async def run_simulator(
    name: str,
    port: int,
    *,
    host: str = LOOPBACK,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve the simulator of the platform ``name`` with its default config until cancelled.

    ``on_started`` receives the base URL once the server listens (useful with ``port=0``).
    """
    known = simulators()
    factory = known.get(name)
    if factory is None:
        raise ValueError(f"unknown simulator {name!r}; known: {', '.join(sorted(known))}")
    async with AppServer(factory(), host=host, port=port) as server:
        if on_started is not None:
            on_started(server.url)
        await asyncio.Event().wait()
