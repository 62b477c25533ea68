"""The ``enricher`` command as a user runs it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from service.cli import main
from service.platforms.registry import built_in
from tests.unit.test_tenants import GOOD

PLATFORMS = tuple(spec.id for spec in built_in())


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("ks")
    path = tmp_path / "tenants.yaml"
    path.write_text(GOOD.replace("SECRET_FILE", str(secret)))
    env = {"ACME_NICE_CLIENT_SECRET": "cs", "ACME_NICE_KEY_ID": "kid"}
    result = CliRunner().invoke(main, ["check-config", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "OK, 1 tenant(s)" in result.output
    assert "acme: nice-cxone, 3 mapped field(s)" in result.output
    assert "cs" not in result.output.replace("acme", "")


def test_check_config_prints_located_errors_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(GOOD.replace("type: number", "type: numbr"))
    result = CliRunner().invoke(main, ["check-config", str(path)], env={})
    assert result.exit_code == 1
    assert (
        f"{path}:7:22: tenants.acme.nice-cxone.client_secret: environment variable" in result.output
    )
    assert f"{path}:14:53: tenants.acme.fields.SentimentScore.type" in result.output
    assert re.search(r"\d+ problems", result.output)


def test_check_config_without_secrets_checks_reference_form(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(GOOD)
    assert (
        CliRunner().invoke(main, ["check-config", "--no-resolve", str(path)], env={}).exit_code == 0
    )
    path.write_text(GOOD.replace("${ACME_NICE_KEY_ID}", "${not a name}"))
    result = CliRunner().invoke(main, ["check-config", "--no-resolve", str(path)], env={})
    assert result.exit_code == 1
    assert "is not a reference" in result.output


def test_run_refuses_to_start_without_a_tenants_file() -> None:
    result = CliRunner().invoke(main, ["run"], env={"ENRICHER_CONFIG": ""})
    assert result.exit_code == 2
    assert "ENRICHER_CONFIG" in result.output


def test_run_names_the_bad_environment_variable() -> None:
    result = CliRunner().invoke(main, ["run"], env={"ENRICHER_HTTP_PORT": "eighty"})
    assert result.exit_code == 2
    assert "ENRICHER_HTTP_PORT" in result.output


def test_simulate_refuses_an_unknown_platform() -> None:
    result = CliRunner().invoke(main, ["simulate", "avaya"])
    assert result.exit_code == 2
    assert "nice-cxone" in result.output


@pytest.mark.integration
def test_dev_mode_shows_deliveries_within_seconds() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "service.cli", "dev", "--duration", "8", "--http-port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = completed.stdout
    delivered = [int(n) for n in re.findall(r"delivered (\d+)", out)]
    assert delivered, out
    assert delivered[0] > 0, "the first summary, two seconds in, already shows deliveries"
    assert "NICE contact" in out
    assert "now holds" in out
    final = re.search(r"final: .*consumed (\d+)\s+delivered (\d+)", out)
    assert final is not None, out
    assert int(final.group(2)) > 0
    delivered_by_platform = _final_deliveries_by_platform(out)
    assert set(delivered_by_platform) == set(PLATFORMS), out
    assert all(n > 0 for n in delivered_by_platform.values()), delivered_by_platform


@pytest.mark.integration
def test_dev_mode_prints_a_working_admin_token_and_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "dev", "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if line.lstrip().startswith("interactions "):
                break  # the first live summary: everything is running
        banner = "".join(seen)
        admin = re.search(r"admin API\s+(http://\S+/admin)", banner)
        token = re.search(r"admin token\s+(\S+)\s+\(this run only\)", banner)
        assert admin is not None, banner
        assert token is not None, banner
        assert len(token.group(1)) >= 32
        bearer = {"Authorization": f"Bearer {token.group(1)}"}
        lanes = httpx.get(f"{admin.group(1)}/lanes", headers=bearer, timeout=10)
        assert lanes.status_code == 200
        assert {lane["platform"] for lane in lanes.json()["lanes"]} == set(PLATFORMS)
        assert httpx.get(f"{admin.group(1)}/lanes", timeout=10).status_code == 401
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors[-2000:]
    assert "stopping:" in rest
    final = re.search(r"final: .*delivered (\d+)", rest)
    assert final is not None, rest
    assert set(_final_deliveries_by_platform(rest)) == set(PLATFORMS), rest
    assert token.group(1) not in errors


def _final_deliveries_by_platform(out: str) -> dict[str, int]:
    """The delivered column of the final per-platform table (the rows after ``final:``)."""
    final_part = out[out.index("final:") :]
    rows = re.findall(r"^\s+(\S+)\s+\S+\s+(\d+)\s+\d+\s+\d+\s+\d+\s", final_part, re.MULTILINE)
    return {platform: int(delivered) for platform, delivered in rows}
