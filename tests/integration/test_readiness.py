"""``/readyz`` against a ledger that accepts connections and never answers.

The listener is real TCP on loopback, so the Redis client really connects, sends its ping and
waits: exactly what a hung Redis (or a black-holing proxy in front of one) looks like. The
probe must still get its answer well within the chart's 3 s readiness timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.runtime import Service
from service.tenants import parse_tenants
from tests.integration.conftest import SECRETS, TENANTS_YAML, service_settings

pytestmark = pytest.mark.integration

PROBE_TIMEOUT = 3.0
"""``readinessProbe.timeoutSeconds`` in the chart's values."""


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts every connection, reads what it is sent and never replies."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_readyz_answers_in_time_naming_the_silent_ledger_without_its_password(
    silent_port: int, tmp_path: Path
) -> None:
    settings = service_settings(
        "127.0.0.1:9", tmp_path, ledger_url=f"redis://:hunter2@127.0.0.1:{silent_port}/0"
    )
    tenants = parse_tenants(TENANTS_YAML, environ={"ISSUER": "http://127.0.0.1:9", **SECRETS})
    service = Service(settings, tenants)
    service.health.start()
    try:
        async with service.http, httpx.AsyncClient(base_url=service.http.url) as http:
            for _ in range(2):  # the second probe finds the first one's connection abandoned
                began = time.monotonic()
                response = await http.get("/readyz", timeout=PROBE_TIMEOUT + 20)
                took = time.monotonic() - began
                assert took < PROBE_TIMEOUT / 2, f"/readyz took {took:.1f} s"
                assert response.status_code == 503
                ledger = response.json()["checks"]["ledger"]
                assert (
                    ledger == f"no answer from redis://:***@127.0.0.1:{silent_port}/0 within 1.0 s"
                )
                assert "hunter2" not in response.text
    finally:
        await service.ledger.close()
