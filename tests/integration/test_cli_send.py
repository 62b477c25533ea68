"""``enricher send`` as a user runs it: events checked by the service's parser, then produced
to the input topic of their type with the service's key."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from service.cli import main
from service.kafka_admin import ensure_topics
from tests.integration.cli_support import command_env, read_topic
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration


def eight(body: dict[str, object]) -> dict[str, object]:
    """An event of the dev tenants file's 8x8 tenant."""
    return {**body, "tenant": "eightco", "ref": {"guid": "g-1"}}


@pytest.fixture
def env(kafka_bootstrap: str) -> dict[str, str]:
    values = command_env(kafka_bootstrap)
    topics = {values["ENRICHER_TOPIC_CLOSED"]: 2, values["ENRICHER_TOPIC_ANALYTICS"]: 2}
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    return values


def send(env: dict[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["send", *args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_sends_a_file_to_the_topic_of_its_type_with_the_service_key(
    env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(orjson.dumps(eight(closed_json()), option=orjson.OPT_INDENT_2))
    code, out, err = send(env, str(event))
    assert code == 0, err
    topic = env["ENRICHER_TOPIC_CLOSED"]
    [record] = read_topic(kafka_bootstrap, topic, 1)
    assert record.key == "eightco:call-000123"
    assert orjson.loads(record.value) == eight(closed_json())
    assert f"{topic}  partition {record.partition}  offset {record.offset}" in out
    assert "eightco:call-000123" in out


def test_sends_json_lines_from_stdin_each_to_its_topic(
    env: dict[str, str], kafka_bootstrap: str
) -> None:
    lines = [eight(closed_json(interaction_id=f"c-{n}")) for n in range(3)]
    lines.append(eight(analytics_json(interaction_id="c-0")))
    stdin = b"\n".join(orjson.dumps(body) for body in lines) + b"\n"
    code, out, err = send(env, "-", stdin=stdin)
    assert code == 0, err
    closed = read_topic(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], 3)
    analytics = read_topic(kafka_bootstrap, env["ENRICHER_TOPIC_ANALYTICS"], 1)
    assert sorted(r.key for r in closed) == ["eightco:c-0", "eightco:c-1", "eightco:c-2"]
    assert [r.key for r in analytics] == ["eightco:c-0"]
    assert len(re.findall(r"partition \d+  offset \d+", out)) == 4
    assert "sent 4 event(s)" in err


def test_refuses_a_batch_with_one_bad_event_and_sends_none_of_it(
    env: dict[str, str], kafka_bootstrap: str
) -> None:
    good = orjson.dumps(eight(closed_json()))
    bad = orjson.dumps(eight(closed_json(occurred_at="2026-11-20")))
    code, _, err = send(env, "-", stdin=good + b"\n" + bad + b"\n")
    assert code == 1
    assert "<stdin>:2: invalid_event: occurred_at: " in err
    assert "nothing was sent" in err
    assert read_topic(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], 0, timeout=2) == []


def test_refuses_a_tenant_the_tenants_file_does_not_have(
    env: dict[str, str], tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(orjson.dumps(closed_json(tenant="nobody")))
    code, _, err = send(env, str(event))
    assert code == 1
    assert f"{event}: unknown_tenant: tenant 'nobody' is not configured" in err
    assert "tenants.yaml" in err


def test_names_the_file_and_line_of_what_is_not_json(env: dict[str, str], tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{\n  "type": "interaction.closed",\n  "version": 1,,\n}\n')
    code, _, err = send(env, str(event))
    assert code == 1
    assert err.startswith(f"error: {event}:3:16: not JSON")


def test_dry_run_checks_and_prints_but_sends_nothing(
    env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(orjson.dumps(eight(closed_json())))
    code, out, err = send(env, "--dry-run", str(event))
    assert code == 0, err
    assert f"would send to {env['ENRICHER_TOPIC_CLOSED']}  key eightco:call-000123" in out
    assert '"interaction_id":"call-000123"' in out
    assert read_topic(kafka_bootstrap, env["ENRICHER_TOPIC_CLOSED"], 0, timeout=2) == []


@pytest.mark.parametrize(
    ("tenant", "kind", "topic_setting"),
    [
        ("eightco", "closed", "ENRICHER_TOPIC_CLOSED"),
        ("genco", "analytics", "ENRICHER_TOPIC_ANALYTICS"),
    ],
)
def test_sends_a_sample_for_a_tenant_of_the_tenants_file(
    env: dict[str, str], kafka_bootstrap: str, tenant: str, kind: str, topic_setting: str
) -> None:
    code, _, err = send(env, "--sample", tenant, "--type", kind, "--interaction", "s-1")
    assert code == 0, err
    [record] = read_topic(kafka_bootstrap, env[topic_setting], 1)
    body = orjson.loads(record.value)
    assert record.key == f"{tenant}:s-1"
    assert body["tenant"] == tenant
    assert "sentiment" in body["data"]
    assert "ref" in body  # 8x8 closes and GWS analytics both carry the platform's ids


def test_a_sample_for_an_unknown_tenant_names_the_ones_there_are(env: dict[str, str]) -> None:
    code, _, err = send(env, "--sample", "nobody")
    assert code == 2
    assert "tenant 'nobody' is not in" in err
    assert "acme, crmco, eightco, genco, sinchco" in err


def test_a_sample_needs_a_tenants_file(env: dict[str, str]) -> None:
    code, _, err = send({**env, "ENRICHER_CONFIG": ""}, "--sample", "eightco")
    assert code == 2
    assert "ENRICHER_CONFIG" in err
    assert "--config" in err


def test_names_the_broker_that_does_not_answer(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    event = tmp_path / "event.json"
    event.write_bytes(orjson.dumps(eight(closed_json())))
    address = f"127.0.0.1:{port}"
    code, _, err = send({**env, "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": address}, str(event))
    assert code == 3
    assert address in err
    assert "ENRICHER_KAFKA_BOOTSTRAP_SERVERS" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_names_the_topic_that_does_not_exist(env: dict[str, str], tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(orjson.dumps(eight(closed_json())))
    code, _, err = send({**env, "ENRICHER_TOPIC_CLOSED": "no-such-topic-here"}, str(event))
    assert code == 1
    assert "no-such-topic-here" in err
    assert "ENRICHER_TOPIC_CLOSED" in err
    assert "enricher topics create" in err


@pytest.mark.parametrize("command", ["send", "topics"])
def test_the_commands_exist_when_run_as_a_module(command: str) -> None:
    """``python -m service.cli`` runs cli.py as ``__main__``: the commands must be added
    before it calls ``main()``."""
    completed = subprocess.run(
        [sys.executable, "-m", "service.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
