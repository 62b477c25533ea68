"""A platform from outside the enricher: the example plug-in (``examples/platform-plugin``),
installed as a user installs it, found through its entry point and run end to end.

The package is installed into a directory of its own (``pip install --target``) and only the
``enricher`` processes this test starts see it (``PYTHONPATH``), so no other test, and no
other use of the environment, ever finds a fifth platform.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conformance.platforms import MORE_PLATFORMS
from tests.fixtures.broker import ENV_BOOTSTRAP
from tests.integration.conftest import wait_for
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "platform-plugin"
SECRET = "acme-notes-dev-secret"  # the simulator's default client secret

TENANTS = """\
tenants:
  notes:
    platform: {platform}
    acme-notes:
      base_url: {url}
      workspace: support
      client_id: enricher-dev
      client_secret: ${{ACME_NOTES_SECRET}}
    delivery: {{max_attempts: 4, timeout: 5s}}
    fields:
      Account: {{from: crm_account}}
      Sentiment: {{from: sentiment.label}}
      Topics: {{from: topics}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the plug-in is installed into. It is built from a copy, so the build
    leaves nothing in the repository."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info"))
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def _env(plugin: Path | None, **settings: str) -> dict[str, str]:
    path = [str(plugin)] if plugin else []
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]),
        "ACME_NOTES_SECRET": SECRET,
        **settings,
    }


def _enricher(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def simulator(plugin: Path, tmp_path: Path) -> Iterator[str]:
    """The plug-in's simulator, served by ``enricher simulate`` in its own process."""
    port = _free_port()
    log = (tmp_path / "simulator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "simulate", "acme-notes", "--port", str(port)],
        env=_env(plugin),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answers(url + "/_sim/notes", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_until_answers(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the simulator exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 60 s")


def test_the_plugin_s_own_tests_pass(plugin: Path) -> None:
    """Its builder and outcome tables, as its author runs them, against the installed copy."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        env=_env(plugin),
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_plugin_passes_the_conformance_suite(plugin: Path, kafka_bootstrap: str) -> None:
    """The scenarios every built-in platform passes, run against the plug-in's simulator by a
    pytest of its own, which alone sees the plug-in; it shares this session's broker."""
    env = _env(plugin)
    env["PYTHONPATH"] += os.pathsep + str(EXAMPLE / "tests")
    env[MORE_PLATFORMS] = "conformance_platform:ACME_NOTES"
    env[ENV_BOOTSTRAP] = kafka_bootstrap
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("tests/conformance", "-k", "acme-notes"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout, result.stdout[-2000:]


def test_check_config_accepts_a_tenant_of_the_plugin(plugin: Path, tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS.format(platform="acme-notes", url="https://api.acmenotes.example"))
    result = _enricher("check-config", str(path), env=_env(plugin))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "notes: acme-notes, 3 mapped field(s)" in result.stdout


def test_check_config_names_an_unknown_platform(plugin: Path, tmp_path: Path) -> None:
    """A typo in the id, and the plug-in's id where the plug-in is not installed: both say
    which platforms there are, with the line of the tenant."""
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS.format(platform="acme-notez", url="https://api.acmenotes.example"))
    typo = _enricher("check-config", str(path), env=_env(plugin))
    assert typo.returncode == 1, typo.stdout + typo.stderr
    assert f"{path}:3:15: tenants.notes.platform: Input should be 'nice-cxone'," in typo.stderr
    assert "or 'acme-notes'" in typo.stderr  # among the known ones

    path.write_text(TENANTS.format(platform="acme-notes", url="https://api.acmenotes.example"))
    missing = _enricher("check-config", str(path), env=_env(None))
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert f"{path}:3:15: tenants.notes.platform: Input should be 'nice-cxone'," in missing.stderr
    assert "acme-notes'" not in missing.stderr.splitlines()[0]


async def test_a_plugin_tenant_gets_its_merged_fields(
    plugin: Path, simulator: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=simulator, timeout=10) as control:
        (await control.put("/_sim/notes/N-1")).raise_for_status()
        tenants = tmp_path / "tenants.yaml"
        tenants.write_text(TENANTS.format(platform="acme-notes", url=simulator))
        suffix = uuid.uuid4().hex[:10]
        port = _free_port()
        env = _env(
            plugin,
            ENRICHER_CONFIG=str(tenants),
            ENRICHER_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            ENRICHER_KAFKA_ENABLE_IDEMPOTENCE="false",
            ENRICHER_CREATE_TOPICS="true",
            ENRICHER_TOPIC_CLOSED=f"closed-{suffix}",
            ENRICHER_TOPIC_ANALYTICS=f"analytics-{suffix}",
            ENRICHER_TOPIC_DLQ=f"dlq-{suffix}",
            ENRICHER_TOPIC_RETRY_PREFIX=f"retry-{suffix}.",
            ENRICHER_GROUP_ID=f"enricher-{suffix}",
            ENRICHER_LEDGER_URL=f"sqlite:///{tmp_path}/ledger.sqlite3",
            ENRICHER_HTTP_HOST="127.0.0.1",
            ENRICHER_HTTP_PORT=str(port),
            ENRICHER_KAFKA_SESSION_TIMEOUT="6s",
            ENRICHER_KAFKA_HEARTBEAT_INTERVAL="500ms",
        )
        service = _start_service(env, tmp_path / "service.log")
        try:
            await wait_for(lambda: _ready(port), 60, "enricher run to be ready")
            # The analytics come first: an after-close platform holds them for the close.
            topic = env["ENRICHER_TOPIC_ANALYTICS"]
            await _produce(kafka_bootstrap, topic, analytics_json(tenant="notes"))
            await wait_for(lambda: _held(port), 30, "the analytics to be held")
            closed = closed_json(tenant="notes", ref={"note_id": "N-1"})
            await _produce(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], closed)

            async def merged() -> bool:
                note = (await control.get("/_sim/notes/N-1")).json()
                return bool(note["fields"].get("Account")) and "Sentiment" in note["fields"]

            await wait_for(merged, 30, "the note to hold the merged fields")
            note = (await control.get("/_sim/notes/N-1")).json()
        except AssertionError as exc:
            log = (tmp_path / "service.log").read_text()[-4000:]
            requests = (await control.get("/_sim/requests")).text
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            counted = "\n".join(
                line
                for line in metrics.splitlines()
                if line.startswith("enricher_") and "_total" in line
            )
            raise AssertionError(
                f"{exc}\n--- enricher run ---\n{log}\n--- vendor requests ---\n{requests}"
                f"\n--- counters ---\n{counted}"
            ) from None
        finally:
            service.send_signal(signal.SIGTERM)
            code = service.wait(timeout=60)
    assert note["fields"] == {
        "Account": "A-1001",
        "Sentiment": "negative",
        "Topics": "billing, cancel",
    }, (tmp_path / "service.log").read_text()[-3000:]
    assert len(note["writes"]) == 1, "the close and the analytics went in one write"
    assert code == 0, (tmp_path / "service.log").read_text()[-3000:]


def _start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _held(port: int) -> bool:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return 'enricher_held_total{platform="acme-notes",tenant="notes"} 1.0' in text or (
        'enricher_held_total{tenant="notes",platform="acme-notes"} 1.0' in text
    )


async def _produce(bootstrap: str, topic: str, body: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        key = f"{body['tenant']}:{body['interaction_id']}".encode()
        await producer.send_and_wait(topic, orjson.dumps(body), key=key)
    finally:
        await producer.stop()
