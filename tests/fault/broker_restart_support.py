"""A Kafka-protocol broker that survives its own restart, for the broker-restart fault test.

The embedded Tansu broker (``service.dev.broker.EmbeddedBroker``) keeps everything in memory,
so a restart loses every topic, offset and group. The same Tansu 0.6 binary also takes
``--storage-engine s3://BUCKET/``; pointed at a local S3 server (moto's, from PyPI, run as a
child process) it keeps topics, records, committed offsets and consumer groups across a
restart on the same port, after SIGTERM and after SIGKILL alike. No other engine is built into
that binary: ``file://`` is refused as unsupported, ``postgres://`` and ``sqlite://`` as
features not enabled.

Usage::

    with S3Server() as s3, PersistentBroker(s3, log_dir=tmp_path) as broker:
        ...broker.bootstrap_servers...
        broker.stop()                   # SIGTERM; the data stays in S3
        broker.start()                  # same port, same cluster id, same data

What to expect from Tansu on this engine:

- After SIGTERM it keeps serving the connections already open for about 5 s, then exits 0
  (at once when none are open).
- A produce in flight when it exits can leave a hole: the offset is taken, no record is stored,
  and the producer's retry lands on the next offset. Consumers step over it.
- ``ListOffsets`` for the latest offset is unreliable (1, or a value that lags, for partitions
  holding hundreds of records); fetches, the earliest offset and committed offsets are right,
  so only a lag gauge is misled.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import httpx
import pytest

from service.dev.broker import EmbeddedBroker, _terminate

__all__ = [
    "PersistentBroker",
    "S3Server",
    "S3ServerError",
    "persistent_broker",
    "s3_server",
    "stable_port",
]

HOST: Final = "127.0.0.1"
ACCESS_KEY: Final = "enricher-test"
SECRET_KEY: Final = "enricher-test-secret"
REGION: Final = "us-east-1"


class S3ServerError(RuntimeError):
    """The local S3 server did not start."""


def stable_port(host: str = HOST, attempts: int = 50) -> int:
    """A free port below the kernel's ephemeral range.

    A broker that is down for a few seconds leaves its port unbound; a port from the ephemeral
    range could meanwhile become the source port of some outgoing connection and the restart
    would fail with "address in use". Ports below the range are never handed out that way.
    """
    low = _ephemeral_floor()
    for _ in range(attempts):
        port = random.randint(max(1024, low - 12_000), low - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port below {low} on {host} after {attempts} attempts")


def _ephemeral_floor() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # the Linux default; other systems start higher


class S3Server:
    """moto's S3 server in a child process on a loopback port, with one bucket.

    A child process rather than moto's in-thread server: Tansu calls S3 for every produce,
    commit and heartbeat, and an in-process server would compete with the service under test
    for the interpreter lock.
    """

    def __init__(
        self,
        bucket: str = "tansu",
        *,
        host: str = HOST,
        start_timeout: float = 30.0,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.bucket = bucket
        self._host = host
        self._start_timeout = start_timeout
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in: float | None = None
        """Seconds from spawning moto to the bucket existing."""

    @property
    def endpoint(self) -> str:
        if self._port is None or self._process is None:
            raise S3ServerError("the S3 server is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    @property
    def storage_engine(self) -> str:
        return f"s3://{self.bucket}/"

    def environment(self) -> dict[str, str]:
        """What Tansu's object store reads to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def start(self) -> str:
        """Start moto, create the bucket, return the endpoint."""
        if self._process is not None:
            return self.endpoint
        began = time.monotonic()
        self._port = stable_port(self._host)
        output: IO[bytes] | int = subprocess.DEVNULL
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            self._log = (self._log_dir / "moto.log").open("ab")
            output = self._log
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self._host, "-p", str(self._port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._create_bucket(began + self._start_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self.endpoint

    def _create_bucket(self, deadline: float) -> None:
        assert self._process is not None
        url = f"{self.endpoint}/{self.bucket}"
        while True:
            code = self._process.poll()
            if code is not None:
                raise S3ServerError(f"moto exited with status {code} before answering")
            try:
                response = httpx.put(url, timeout=2)
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise S3ServerError(f"moto did not answer on {self.endpoint}") from None
                time.sleep(0.05)
                continue
            if response.status_code != 200:
                raise S3ServerError(f"creating bucket {self.bucket}: {response.status_code}")
            return

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, 5.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PersistentBroker(EmbeddedBroker):
    """Tansu on a fixed port with its data in ``s3``: ``stop()`` then ``start()`` is a restart.

    The port and the cluster id are chosen once, so clients reconnect to the same address and
    the restarted broker finds its own data under the same S3 prefix. ``start()`` blocks until
    the broker answers a metadata request; ``started_in`` holds the last start's duration.

    ``stop()`` sends SIGTERM and waits for the exit. Tansu keeps serving connections that are
    open for about 5 s after SIGTERM before it exits, so ``stop_grace`` defaults to more than
    that: the broker leaves on its own rather than being killed.
    """

    def __init__(
        self,
        s3: S3Server,
        *,
        host: str = HOST,
        port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        stop_grace: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            host=host,
            port=port or stable_port(host),
            log_dir=log_dir,
            stop_grace=stop_grace,
            storage_engine=s3.storage_engine,
            environment=s3.environment(),
            **kwargs,
        )
        self._s3 = s3
        self._cluster = f"enricher-fault-{uuid.uuid4().hex[:12]}"

    @property
    def port(self) -> int:
        assert self._requested_port is not None
        return self._requested_port


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """moto's S3 server with an empty bucket, for one test."""
    pytest.importorskip("moto.server", reason="needs moto[server] (a local S3 for Tansu)")
    with S3Server(log_dir=tmp_path / "logs") as server:
        yield server


@pytest.fixture
def persistent_broker(s3_server: S3Server, tmp_path: Path) -> Iterator[PersistentBroker]:
    """A started Tansu whose data lives in ``s3_server``; the test may stop and start it."""
    with PersistentBroker(s3_server, log_dir=tmp_path / "logs") as broker:
        yield broker
