"""The real ``enricher run`` process, killed with SIGKILL while work is uncommitted, loses
nothing: the restarted process delivers every change (some perhaps twice)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.fixtures.nice import Sim
from tests.integration.conftest import SECRETS, TENANTS_YAML, wait_for
from tests.unit.factories import closed_json

pytestmark = pytest.mark.integration

INTERACTIONS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def produce(bootstrap: str, topic: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for n in numbers:
            body = closed_json(
                event_id=str(uuid.uuid4()),
                interaction_id=f"i-{n}",
                ref={"contact_id": str(100 + n)},
                data={"crm_account": f"A-{n}"},
            )
            await producer.send_and_wait(topic, orjson.dumps(body), key=f"acme:i-{n}".encode())
    finally:
        await producer.stop()


async def test_sigkill_with_uncommitted_work_loses_nothing(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:10]
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(TENANTS_YAML)
    port = free_port()
    env: dict[str, Any] = {
        **os.environ,
        **SECRETS,
        "ISSUER": sim.url,
        "ENRICHER_CONFIG": str(tenants),
        "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ENRICHER_CREATE_TOPICS": "true",
        "ENRICHER_TOPIC_PARTITIONS": "2",
        "ENRICHER_TOPIC_CLOSED": f"closed-{suffix}",
        "ENRICHER_TOPIC_ANALYTICS": f"analytics-{suffix}",
        "ENRICHER_TOPIC_DLQ": f"dlq-{suffix}",
        "ENRICHER_GROUP_ID": f"enricher-{suffix}",
        "ENRICHER_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.sqlite3",
        "ENRICHER_HTTP_HOST": "127.0.0.1",
        "ENRICHER_HTTP_PORT": str(port),
        "ENRICHER_COMMIT_INTERVAL": "1h",  # the first process commits nothing before it dies
        "ENRICHER_RETRY_BASE_DELAY": "50ms",
        "ENRICHER_KAFKA_SESSION_TIMEOUT": "6s",
        "ENRICHER_KAFKA_HEARTBEAT_INTERVAL": "500ms",
    }
    log = tmp_path / "service.log"
    for n in range(INTERACTIONS):
        await sim.contact(str(100 + n))
    half = INTERACTIONS // 2

    async def delivered() -> int:
        return sum(p["status"] == 204 for p in await sim.puts())

    first = start(env, log)
    try:
        await wait_for(lambda: ready(port), 60, "the first process to be ready")
        await produce(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], range(half))

        async def first_half_delivered() -> bool:
            return await delivered() == half

        await wait_for(first_half_delivered, 30, "the first half delivered")
        await sim.control.put("/_sim/latency", json={"ms": 3000})
        await produce(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], range(half, INTERACTIONS))

        async def all_consumed() -> bool:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            return f'type="interaction.closed"}} {INTERACTIONS}.0' in text

        # Every record consumed while the slow vendor still holds the second half's calls.
        await wait_for(all_consumed, 30, "the second half consumed and in flight")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    delivered_before = await delivered()
    assert delivered_before < INTERACTIONS  # the kill left work undone
    await sim.control.put("/_sim/latency", json={"ms": 0})

    env["ENRICHER_COMMIT_INTERVAL"] = "200ms"
    second = start(env, log)
    try:

        async def everything_delivered() -> bool:
            for n in range(INTERACTIONS):
                if (await sim.fields(str(100 + n))).get("CrmAccount") != f"A-{n}":
                    return False
            return True

        await wait_for(everything_delivered, 90, "every interaction delivered after the restart")
        puts = await delivered()
        print(
            f"\ncrash test: {INTERACTIONS} interactions, {delivered_before} delivered before "
            f"SIGKILL, lost 0, duplicates {puts - INTERACTIONS}"
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            second.kill()
