"""``enricher dev`` as a new user meets it: what it prints, and what it leaves behind."""

from __future__ import annotations

import os
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
