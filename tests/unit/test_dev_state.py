"""The file a running ``enricher dev`` leaves for the commands run beside it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from service.dev.state import (
    DevState,
    read_state,
    remove_state,
    settings_overrides,
    state_path,
    write_state,
)

STATE = DevState(
    pid=os.getpid(),
    bootstrap_servers="127.0.0.1:40000",
    admin_url="http://127.0.0.1:8080/admin",
    http_port=8080,
    topic_dlq="enricher.dlq",
    topic_retry_prefix="enricher.retry.",
    retry_tiers="30s,300s,1800s",
)


def test_the_file_is_per_user_in_the_runtime_directory(tmp_path: Path) -> None:
    assert state_path({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path / "enricher-dev.json"
    assert str(os.getuid()) in state_path({}).name


def test_a_state_is_read_back_and_removed_only_by_its_writer(tmp_path: Path) -> None:
    path = write_state(STATE, tmp_path / "dev.json")
    assert read_state(path) == STATE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    remove_state(path, pid=STATE.pid + 1)
    assert path.exists()
    remove_state(path, pid=STATE.pid)
    assert not path.exists()


def test_a_file_left_by_a_dev_run_that_is_gone_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    path = write_state(replace(STATE, pid=int(gone.stdout)), tmp_path / "dev.json")
    assert read_state(path) is None
    (tmp_path / "broken.json").write_text("{not json")
    assert read_state(tmp_path / "broken.json") is None


def test_a_variable_set_by_hand_wins_over_the_dev_system() -> None:
    overrides = settings_overrides(STATE, {"ENRICHER_TOPIC_DLQ": "mine"})
    assert overrides == {
        "kafka_bootstrap_servers": "127.0.0.1:40000",
        "kafka_enable_idempotence": False,
        "topic_retry_prefix": "enricher.retry.",
        "retry_tiers": "30s,300s,1800s",
    }
