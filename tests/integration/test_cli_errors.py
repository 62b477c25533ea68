"""What a user sees when ``enricher`` cannot do what was asked: one or two lines on stderr that
name the thing and the fix, the exit code of the failure's class, and no traceback or library
chatter (docs/reference/errors.md). Every case runs the real command in its own process against
real things: a closed port, a taken port, a real embedded broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.delivery.dead_letter import DeadLetter, dead_letter_headers
from service.dev.broker import EmbeddedBroker
from service.dev.state import DevState, write_state
from service.kafka_admin import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BROKER_FIX = "  fix: start the broker, or set ENRICHER_KAFKA_BOOTSTRAP_SERVERS to its host:port"
IDEMPOTENCE_FIX = (
    "  fix: use a broker that supports idempotent producers, or set "
    "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE=false to accept possible duplicate writes on retry"
)


def enricher(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``enricher ARGS`` with only ``env`` set: no ENRICHER_* of the caller's, and a home of
    its own, so no dev system of the machine is found by accident."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=tmp_path,
        check=False,
    )


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (taken from the OS, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_lines(stderr: str) -> list[str]:
    """stderr without the JSON log lines: what is left is what the command itself said."""
    return [line for line in stderr.splitlines() if not line.startswith("{")]


def assert_no_library_chatter(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Unclosed" not in stderr
    for line in stderr.splitlines():
        if line.startswith("{"):
            orjson.loads(line)  # every log line, the libraries' too, is a JSON object


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: {}\n")
    return path


def run_env(tenants_file: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ENRICHER_CONFIG": str(tenants_file),
        "ENRICHER_LEDGER_URL": f"sqlite:///{tmp_path}/ledger.sqlite3",
        "ENRICHER_HTTP_HOST": "127.0.0.1",
        "ENRICHER_HTTP_PORT": "0",
        **extra,
    }


@pytest.fixture(scope="module")
def embedded() -> Iterator[str]:
    """A real broker without idempotent producers, as `make dev` runs."""
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def write_dead_letters(bootstrap: str, count: int) -> str:
    """A fresh DLQ topic holding ``count`` dead letters of tenant acme; returns its name."""
    topic = f"dlq-{uuid.uuid4().hex[:10]}"

    async def write() -> None:
        await ensure_topics(bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            for n in range(count):
                letter = DeadLetter(
                    reason="rejected",
                    source_topic="interactions.closed",
                    source_partition=0,
                    source_offset=n,
                    service_version="test",
                    attempts=1,
                    first_failure_at=datetime.now(UTC),
                    tenant="acme",
                    platform="nice-cxone",
                )
                await producer.send_and_wait(
                    topic,
                    key=f"acme/i-{n}".encode(),
                    value=b'{"type": "interaction.closed"}',
                    headers=dead_letter_headers([], letter),
                )
        finally:
            await producer.stop()

    asyncio.run(write())
    return topic


# -- the broker ------------------------------------------------------------------------------


def test_dlq_list_without_a_broker_names_the_address_and_exits_3(tmp_path: Path) -> None:
    port = closed_port()
    result = enricher(tmp_path, "dlq", "list", ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [
        "reading enricher.dlq ...",
        f"error: no Kafka broker answers at 127.0.0.1:{port} (ENRICHER_KAFKA_BOOTSTRAP_SERVERS)",
        BROKER_FIX,
    ]


def test_dlq_list_with_nothing_set_says_the_default_address_is_in_use(tmp_path: Path) -> None:
    result = enricher(tmp_path, "dlq", "list")
    if result.returncode == 0:
        pytest.skip("a broker answers on localhost:9092 on this machine")
    assert result.returncode == 3, result.stderr
    assert plain_lines(result.stderr)[1:] == [
        "error: no Kafka broker answers at localhost:9092 (the default; "
        "ENRICHER_KAFKA_BOOTSTRAP_SERVERS is not set)",
        BROKER_FIX,
    ]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    port = closed_port()
    result = enricher(
        tmp_path, "--debug", "dlq", "list", ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}"
    )
    assert result.returncode == 3
    assert "Traceback" in result.stderr
    assert "KafkaConnectionError" in result.stderr
    assert result.stderr.splitlines()[-1] == BROKER_FIX


def test_run_without_a_broker_exits_3_with_only_json_log_lines_before(
    tmp_path: Path, tenants_file: Path
) -> None:
    port = closed_port()
    env = run_env(tenants_file, tmp_path, ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 3, result.stderr
    assert plain_lines(result.stderr) == [
        f"error: no Kafka broker answers at 127.0.0.1:{port} (ENRICHER_KAFKA_BOOTSTRAP_SERVERS)",
        BROKER_FIX,
    ]
    assert_no_library_chatter(result.stderr)


def test_run_against_a_broker_without_idempotent_producers_names_the_setting(
    tmp_path: Path, tenants_file: Path, embedded: str
) -> None:
    env = run_env(tenants_file, tmp_path, ENRICHER_KAFKA_BOOTSTRAP_SERVERS=embedded)
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 6, result.stderr
    assert plain_lines(result.stderr) == [
        f"error: the Kafka broker at {embedded} refused an idempotent producer (UnknownError)",
        IDEMPOTENCE_FIX,
    ]
    assert_no_library_chatter(result.stderr)


def test_dlq_replay_without_idempotent_producers_exits_6_and_audits_no_replay(
    tmp_path: Path, embedded: str
) -> None:
    topic = write_dead_letters(embedded, 2)
    result = enricher(
        tmp_path,
        "dlq",
        "replay",
        ENRICHER_KAFKA_BOOTSTRAP_SERVERS=embedded,
        ENRICHER_TOPIC_DLQ=topic,
    )
    assert result.returncode == 6, result.stderr
    assert result.stderr.splitlines()[-2:] == [
        f"error: the Kafka broker at {embedded} refused an idempotent producer (UnknownError)",
        IDEMPOTENCE_FIX,
    ]
    output = result.stdout + result.stderr
    assert "dlq_replayed" not in output
    assert "dlq_replay_failed" in output
    assert "Traceback" not in output
    assert "InitProducerIdRequest" not in output


def test_a_lost_broker_is_logged_once_with_its_address_and_sigterm_still_exits_0(
    tmp_path: Path, tenants_file: Path
) -> None:
    broker = EmbeddedBroker()
    broker.start()
    address = broker.bootstrap_servers
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        **run_env(
            tenants_file,
            tmp_path,
            ENRICHER_KAFKA_BOOTSTRAP_SERVERS=address,
            ENRICHER_KAFKA_ENABLE_IDEMPOTENCE="false",
            ENRICHER_CREATE_TOPICS="true",
            ENRICHER_TOPIC_PARTITIONS="1",
            ENRICHER_SHUTDOWN_DRAIN="2s",
            ENRICHER_KAFKA_SESSION_TIMEOUT="6s",
            ENRICHER_KAFKA_HEARTBEAT_INTERVAL="500ms",
        ),
    }
    log = tmp_path / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"], env=env, stderr=out, cwd=tmp_path
        )
    try:
        _wait_for_line(log, '"partitions_assigned"', 60)
        broker.stop()
        _wait_for_line(log, '"broker_unreachable"', 30)
        time.sleep(6)  # another round of the watcher: still one line
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        broker.stop()
    stderr = log.read_text()
    events = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    lost = [e for e in events if e["event"] == "broker_unreachable"]
    assert [(e["level"], e["address"]) for e in lost] == [("warning", address)]
    assert process.returncode == 0, stderr[-2000:]
    assert_no_library_chatter(stderr)


def _wait_for_line(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text} within {timeout}s:\n{path.read_text()[-2000:]}")
        time.sleep(0.2)


# -- the HTTP port, the ledger, the settings -------------------------------------------------


def test_run_on_a_taken_port_names_the_port_and_exits_5(tmp_path: Path, tenants_file: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = run_env(
            tenants_file,
            tmp_path,
            ENRICHER_HTTP_PORT=str(port),
            ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}",
        )
        result = enricher(tmp_path, "run", **env)
    assert result.returncode == 5, result.stderr
    assert plain_lines(result.stderr) == [
        f"error: port {port} on 127.0.0.1 is already in use (ENRICHER_HTTP_PORT)",
        "  fix: stop what holds it, or set ENRICHER_HTTP_PORT to a free port (0 picks one)",
    ]
    assert_no_library_chatter(result.stderr)


def test_simulate_on_a_taken_port_names_the_option_and_exits_5(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = enricher(tmp_path, "simulate", "8x8", "--port", str(port))
    assert result.returncode == 5, result.stderr
    assert result.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use (--port)",
        "  fix: stop what holds it, or set --port to a free port (0 picks one)",
    ]


def test_run_with_a_ledger_file_that_cannot_be_opened_exits_4(
    tmp_path: Path, tenants_file: Path
) -> None:
    url = f"sqlite:///{tmp_path}/missing/ledger.sqlite3"
    env = run_env(
        tenants_file,
        tmp_path,
        ENRICHER_LEDGER_URL=url,
        ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}",
    )
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 4, result.stderr
    first, fix = plain_lines(result.stderr)
    assert first.startswith(f"error: the ledger at {url} cannot be opened (ENRICHER_LEDGER_URL): ")
    assert fix.startswith("  fix: check ENRICHER_LEDGER_URL")
    assert_no_library_chatter(result.stderr)


def test_a_redis_that_does_not_answer_is_logged_with_its_address(
    tmp_path: Path, tenants_file: Path
) -> None:
    port = closed_port()
    env = run_env(
        tenants_file,
        tmp_path,
        ENRICHER_LEDGER_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
        ENRICHER_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}",
    )
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 3, result.stderr  # the broker is not there either
    events = [orjson.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [outage] = [e for e in events if e["event"] == "ledger_unavailable"]
    assert outage["address"] == f"redis://:***@127.0.0.1:{port}/0"
    assert outage["level"] == "warning"
    assert "hunter2" not in result.stderr


def test_sasl_without_a_password_is_a_settings_error(tmp_path: Path, tenants_file: Path) -> None:
    env = run_env(
        tenants_file,
        tmp_path,
        ENRICHER_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        ENRICHER_KAFKA_SASL_MECHANISM="PLAIN",
        ENRICHER_KAFKA_SASL_USERNAME="enricher",
    )
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: ENRICHER_KAFKA_SASL_MECHANISM=PLAIN needs ENRICHER_KAFKA_SASL_PASSWORD(_FILE)"
    ]


def test_a_missing_secret_file_is_named_by_its_variable(tmp_path: Path, tenants_file: Path) -> None:
    env = run_env(tenants_file, tmp_path, ENRICHER_ADMIN_TOKEN_FILE=f"{tmp_path}/nope")
    result = enricher(tmp_path, "run", **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: ENRICHER_ADMIN_TOKEN_FILE '{tmp_path}/nope': No such file or directory; "
        "name a readable file, or set ENRICHER_ADMIN_TOKEN instead"
    ]


# -- selecting dead letters ------------------------------------------------------------------


def test_dlq_list_refuses_a_platform_the_api_refuses(tmp_path: Path) -> None:
    result = enricher(tmp_path, "dlq", "list", "--platform", "nice")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: Invalid value for '--platform': Input should be 'nice-cxone', "
        "'sinch-contact-pro', '8x8', 'genesys-gws' or 'http'",
        "  fix: see `enricher dlq list --help`",
    ]


def test_dlq_list_with_a_limit_says_how_many_matched(tmp_path: Path, embedded: str) -> None:
    topic = write_dead_letters(embedded, 17)
    result = enricher(
        tmp_path,
        "dlq",
        "list",
        "--limit",
        "3",
        ENRICHER_KAFKA_BOOTSTRAP_SERVERS=embedded,
        ENRICHER_TOPIC_DLQ=topic,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr.splitlines() == [f"reading {topic} ...", "3 of 17 record(s)"]


# -- the dev system --------------------------------------------------------------------------


def test_dlq_list_finds_a_running_dev_system(tmp_path: Path, embedded: str) -> None:
    topic = write_dead_letters(embedded, 2)
    state = DevState(
        pid=os.getpid(),  # alive for as long as the test runs
        bootstrap_servers=embedded,
        admin_url="http://127.0.0.1:1/admin",
        http_port=1,
        topic_dlq=topic,
        topic_retry_prefix="enricher.retry.",
        retry_tiers="30s,300s,1800s",
    )
    path = write_state(state, tmp_path / "enricher-dev.json")
    result = enricher(tmp_path, "dlq", "list")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"using the dev system of `enricher dev` (pid {os.getpid()}): broker {embedded}, "
        f"admin API http://127.0.0.1:1/admin (from {path}; set "
        "ENRICHER_KAFKA_BOOTSTRAP_SERVERS to use another broker)",
        f"reading {topic} ...",
        "2 record(s)",
    ]


def test_dev_mode_leaves_a_state_file_that_dlq_commands_use_and_removes_it(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "dev", "--http-port", "0", "--rate", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    state_file = tmp_path / "enricher-dev.json"
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Ctrl-C stops everything" in line:
                break
        state = orjson.loads(state_file.read_bytes())
        assert state["pid"] == process.pid
        listed = enricher(tmp_path, "dlq", "replay", "--dry-run")
        assert listed.returncode == 0, listed.stderr
        assert listed.stderr.splitlines()[0].startswith(
            f"using the dev system of `enricher dev` (pid {process.pid}): broker "
            f"{state['bootstrap_servers']}"
        )
    finally:
        # Ctrl-C also when an assertion failed: killed, dev mode would leave its broker behind.
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert not state_file.exists()
