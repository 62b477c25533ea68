"""The shared ledger restarting under load: replicas wait it out and lose nothing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.fault.cluster import Load, Replica, cluster, free_port, summary, wait_until
from tests.fixtures.nice import Sim

pytestmark = [pytest.mark.fault]


class RedisServer:
    """A private redis-server whose data survives its own restart (AOF, fsync always), so the
    test restarts the ledger's process, not its contents."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_ledger_restart_under_load_loses_nothing(
    kafka_bootstrap: str, sim: Sim, tmp_path: Path, private_redis: RedisServer
) -> None:
    async with cluster(
        kafka_bootstrap,
        tmp_path,
        sim.url,
        extra_env={"ENRICHER_LEDGER_URL": private_redis.url},
    ) as group:
        load = Load(sim, kafka_bootstrap, group, count=300, rate=40)
        await load.prepare()
        for _ in range(2):
            group.add()
        await wait_until(group.all_ready, 60, "two replicas ready")
        producing = asyncio.create_task(load.produce())
        await asyncio.sleep(4)
        private_redis.stop()
        down_for = 4.0
        saw_not_ready = await wait_until(
            lambda: _any_not_ready(group.running()), 10, "readiness to drop"
        )
        await asyncio.sleep(down_for)
        private_redis.start()
        back = time.monotonic()
        await wait_until(group.all_ready, 30, "readiness back")
        ready_again = time.monotonic() - back
        await producing
        settle = await wait_until(load.delivered, 90, "every interaction delivered")
        missing = await load.missing()
        restarts = [r for r in group.replicas if not r.running]
        line = summary(
            "redis restart",
            events_sent=load.sent,
            faults_injected=f"redis stopped for {down_for:g}s under load",
            lost=len(missing),
            went_backwards=len(stale := await load.out_of_order()),
            duplicates=await load.duplicates(),
            readiness_dropped_after_s=round(saw_not_ready, 1),
            ready_again_after_s=round(ready_again, 1),
            recovery_s=round(settle, 1),
        )
        assert restarts == [], "a replica exited on the ledger outage\n" + group.log_tail()
        assert missing == [], line + group.log_tail()
        assert stale == {}, line


async def _any_not_ready(replicas: list[Replica]) -> bool:
    return not all(await asyncio.gather(*(r.ready() for r in replicas)))
