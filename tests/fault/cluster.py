"""Real ``enricher run`` processes in one consumer group, a load of interactions, and the
bookkeeping that tells whether anything was lost.

Every replica is a separate OS process started exactly as a pod starts it, so SIGKILL and
SIGTERM are the real thing. Replicas share a Redis ledger (a unique key prefix per test) and
the session's broker; the NICE simulator runs in the test's own loop and is the witness: an
interaction is delivered when the simulator holds every field its events carried.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from tests.fixtures.nice import Sim
from tests.integration.conftest import SECRETS, TENANTS_YAML
from tests.unit.factories import analytics_json, closed_json

__all__ = [
    "Cluster",
    "Load",
    "RacingLoad",
    "Replica",
    "cluster",
    "free_port",
    "out_of_order",
    "summary",
    "wait_until",
]

REDIS_URL = os.environ.get("ENRICHER_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.2
) -> float:
    """Seconds it took for ``check`` to hold; fails the test after ``timeout``."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)
    return time.monotonic() - start


@dataclass
class Replica:
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**self.env, "ENRICHER_HTTP_PORT": str(self.port)}
        with self.log.open("ab") as out:
            out.write(f"\n--- {self.name} starting on :{self.port}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "run"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no LeaveGroup."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self) -> None:
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    async def probe(self, path: str) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"http://127.0.0.1:{self.port}{path}")).status_code
        except httpx.HTTPError:
            return None

    async def ready(self) -> bool:
        return await self.probe("/readyz") == 200


@dataclass
class Cluster:
    """Replicas of one deployment: same group, topics, Redis prefix and tenants."""

    bootstrap: str
    tmp: Path
    issuer: str
    tenants_yaml: str = TENANTS_YAML
    extra_env: dict[str, str] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def __post_init__(self) -> None:
        tenants = self.tmp / "tenants.yaml"
        tenants.write_text(self.tenants_yaml)
        self.env: dict[str, str] = {
            **os.environ,
            **SECRETS,
            "ISSUER": self.issuer,
            "ENRICHER_CONFIG": str(tenants),
            "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE": "false",
            "ENRICHER_CREATE_TOPICS": "true",
            "ENRICHER_TOPIC_PARTITIONS": "6",
            "ENRICHER_TOPIC_CLOSED": f"closed-{self.suffix}",
            "ENRICHER_TOPIC_ANALYTICS": f"analytics-{self.suffix}",
            "ENRICHER_TOPIC_DLQ": f"dlq-{self.suffix}",
            "ENRICHER_TOPIC_RETRY_PREFIX": f"retry-{self.suffix}.",
            "ENRICHER_RETRY_TIERS": "1s,3s",
            "ENRICHER_GROUP_ID": f"enricher-{self.suffix}",
            "ENRICHER_LEDGER_URL": REDIS_URL,
            "ENRICHER_LEDGER_KEY_PREFIX": f"fault-{self.suffix}:",
            "ENRICHER_HTTP_HOST": "127.0.0.1",
            "ENRICHER_COMMIT_INTERVAL": "300ms",
            "ENRICHER_RETRY_BASE_DELAY": "50ms",
            "ENRICHER_RETRY_MAX_DELAY": "1s",
            "ENRICHER_SHUTDOWN_DRAIN": "10s",
            "ENRICHER_KAFKA_SESSION_TIMEOUT": "6s",
            "ENRICHER_KAFKA_HEARTBEAT_INTERVAL": "500ms",
            "ENRICHER_LOG_LEVEL": "info",
            **self.extra_env,
        }

    @property
    def log(self) -> Path:
        return self.tmp / "replicas.log"

    @property
    def topic_closed(self) -> str:
        return self.env["ENRICHER_TOPIC_CLOSED"]

    @property
    def topic_analytics(self) -> str:
        return self.env["ENRICHER_TOPIC_ANALYTICS"]

    def add(self) -> Replica:
        replica = Replica(f"replica-{len(self.replicas)}", self.env, self.log)
        replica.start()
        self.replicas.append(replica)
        return replica

    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.running]

    async def all_ready(self) -> bool:
        live = self.running()
        return bool(live) and all(await asyncio.gather(*(r.ready() for r in live)))

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop_all(self) -> None:
        for replica in self.replicas:
            replica.terminate()
        for replica in self.replicas:
            if replica.process is not None:
                try:
                    replica.process.wait(20)
                except subprocess.TimeoutExpired:
                    replica.kill()


@asynccontextmanager
async def cluster(bootstrap: str, tmp: Path, issuer: str, **kwargs: Any) -> AsyncIterator[Cluster]:
    group = Cluster(bootstrap, tmp, issuer, **kwargs)
    try:
        yield group
    finally:
        group.stop_all()


@dataclass
class Load:
    """``count`` interactions, each a close (CRM account) and an analytics result (sentiment),
    produced at ``rate`` events per second; every interaction's contact exists at the sim."""

    sim: Sim
    bootstrap: str
    cluster: Cluster
    count: int
    rate: float = 100.0
    tenant: str = "acme"
    sent: int = 0
    first_contact: int = 1000

    def contact(self, n: int) -> str:
        return str(self.first_contact + n)

    async def prepare(self) -> None:
        await asyncio.gather(*(self.sim.contact(self.contact(n)) for n in range(self.count)))

    async def produce(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=False)
        await producer.start()
        interval = 1.0 / self.rate
        started = time.monotonic()
        try:
            for n in range(self.count):
                key = f"{self.tenant}:i-{n}".encode()
                common = {
                    "tenant": self.tenant,
                    "interaction_id": f"i-{n}",
                }
                close = closed_json(
                    event_id=str(uuid.uuid4()),
                    ref={"contact_id": self.contact(n)},
                    data={"crm_account": f"A-{n}"},
                    **common,
                )
                result = analytics_json(
                    event_id=str(uuid.uuid4()),
                    data={"sentiment": {"label": f"s-{n}", "score": 0.5}},
                    **common,
                )
                await producer.send(self.cluster.topic_closed, orjson.dumps(close), key=key)
                await producer.send(self.cluster.topic_analytics, orjson.dumps(result), key=key)
                self.sent += 2
                delay = started + (2 * (n + 1)) * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.flush()
        finally:
            await producer.stop()

    def expected(self, n: int) -> dict[str, Any]:
        """What the vendor holds for interaction ``n`` once it is delivered."""
        return {"CrmAccount": f"A-{n}", "Sentiment": f"s-{n}"}

    async def missing(self) -> list[int]:
        """Interactions whose vendor record does not hold every expected value yet."""
        response = await self.sim.control.get("/_sim/contacts")
        response.raise_for_status()
        by_contact = {c["contact_id"]: c for c in response.json()}
        missing = []
        for n in range(self.count):
            contact = by_contact.get(self.contact(n), {})
            fields: dict[str, Any] = next(iter(contact.get("segments", {}).values()), {})
            if any(fields.get(name) != value for name, value in self.expected(n).items()):
                missing.append(n)
        return missing

    async def delivered(self) -> bool:
        return not await self.missing()

    async def puts(self) -> int:
        return sum(r["status"] == 204 for r in await self.sim.puts())

    async def out_of_order(self) -> dict[str, list[int]]:
        """Interactions whose vendor accepted an older revision after a newer one."""
        return out_of_order(await self.sim.puts())

    async def duplicates(self) -> int:
        """Accepted PUTs that repeated a snapshot already accepted (same idempotency key):
        what at-least-once costs after a crash or a rebalance."""
        accepted = [r for r in await self.sim.puts() if r["status"] == 204]
        keys = [r["headers"].get("idempotency-key") for r in accepted]
        return len(keys) - len(set(keys))


def accepted_revisions(puts: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Per interaction, the revisions the vendor accepted, in the order it applied them.

    The simulator logs a request when its answer is ready, so the log's order is the order in
    which writes took effect; the idempotency key is ``tenant:interaction:revision``."""
    accepted: dict[str, list[int]] = defaultdict(list)
    for request in puts:
        if 200 <= request["status"] < 300:
            interaction, _, revision = request["headers"]["idempotency-key"].rpartition(":")
            accepted[interaction].append(int(revision))
    return dict(accepted)


def out_of_order(puts: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Interactions whose accepted revisions ever went backwards (a newer value overwritten
    by an older one), with the sequence the vendor saw."""
    return {
        interaction: revisions
        for interaction, revisions in accepted_revisions(puts).items()
        if any(later < earlier for earlier, later in pairwise(revisions))
    }


def _crc32_partitioner(key: bytes, partitions: list[int], available: list[int]) -> int:
    """librdkafka's ``consistent`` partitioner (CRC32 of the key), where the Java client and
    aiokafka use murmur2: the same key lands on another partition."""
    return partitions[zlib.crc32(key) % len(partitions)]


@dataclass
class RacingLoad(Load):
    """Closes and analytics produced as two independent teams would: different clients with
    different partitioners, so one interaction's events are read by different replicas. Each
    interaction gets ``updates`` analytics results, each newer than the last, some before and
    most after its close, close together in time: the replicas race to deliver them."""

    updates: int = 3

    async def produce(self) -> None:
        crm = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=False)
        speech = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=False,
            partitioner=_crc32_partitioner,
            linger_ms=2,
        )
        await crm.start()
        await speech.start()
        interval = 1.0 / self.rate
        started = time.monotonic()
        try:
            for n in range(self.count):
                key = f"{self.tenant}:i-{n}".encode()
                common = {"tenant": self.tenant, "interaction_id": f"i-{n}"}
                close = closed_json(
                    event_id=str(uuid.uuid4()),
                    ref={"contact_id": self.contact(n)},
                    data={"crm_account": f"A-{n}"},
                    **common,
                )
                for k in range(self.updates):
                    result = analytics_json(
                        event_id=str(uuid.uuid4()),
                        occurred_at=f"2026-11-20T10:17:{k:02d}Z",
                        data={"sentiment": {"label": f"s-{n}-{k}", "score": k / 10}},
                        **common,
                    )
                    if k == 1:
                        await crm.send(self.cluster.topic_closed, orjson.dumps(close), key=key)
                    await speech.send(self.cluster.topic_analytics, orjson.dumps(result), key=key)
                self.sent += 1 + self.updates
                delay = started + self.sent * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await crm.flush()
            await speech.flush()
        finally:
            await crm.stop()
            await speech.stop()

    def expected(self, n: int) -> dict[str, Any]:
        """The newest value of every field: anything older at the vendor is stale."""
        newest = self.updates - 1
        return {
            "CrmAccount": f"A-{n}",
            "Sentiment": f"s-{n}-{newest}",
            "SentimentScore": newest / 10,
        }


def summary(name: str, **figures: object) -> str:
    text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
    line = f"\n[fault] {name}: {text}"
    print(line)
    return line
