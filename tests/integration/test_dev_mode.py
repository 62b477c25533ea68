"""``enricher dev`` as a new user meets it: what it prints, and what it leaves behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _dev(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """Dev mode in its own temp folder, so what it leaves there is all that is there."""
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "dev", "--http-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )


def _until_first_summary(process: subprocess.Popen[str]) -> str:
    seen: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if line.lstrip().startswith("interactions "):
            break
    return "".join(seen)


def test_ctrl_c_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    process = _dev(tmp_path)
    try:
        banner = _until_first_summary(process)
        assert list(tmp_path.glob("enricher-dev-*")), f"the run's directory exists:\n{banner}"
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_without_a_terminal_the_summary_is_plain_lines_and_the_log_goes_to_a_file(
    tmp_path: Path,
) -> None:
    process = _dev(tmp_path, "--duration", "7")
    try:
        out, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors[-2000:]
    assert "\x1b" not in out, "no cursor movement or colour codes in a pipe"
    assert out.count("admin token") == 1, "the banner is printed once"
    logs = re.search(r"^\s+logs\s+(\S+)", out, re.MULTILINE)
    assert logs is not None, out
    assert Path(logs.group(1)).parent.name.startswith("enricher-dev-")
    summaries = re.findall(r"^interactions \d+  consumed \d+  delivered \d+", out, re.MULTILINE)
    assert len(summaries) >= 2, "one plain block per period"
    # What a vendor holds is shown for an interaction id of the events, vendor id beside it.
    assert re.search(r"^\s+call-\d{6} \(NICE contact \d+\) now holds: ", out, re.MULTILINE), out
    # The service's warnings (the deliberately malformed records among them) are in the log
    # file, not between the summaries; its last lines are shown once the run has ended.
    assert "bad_input" not in errors
    final = out[out.index("final: ") :]
    if "not_json" in final:
        assert "malformed on purpose" in final.splitlines()[0]
        assert "bad_input" in final
    assert list(tmp_path.iterdir()) == []
