"""Where a running ``enricher dev`` says what it started, so that a command run beside it
(``enricher dlq list`` in another terminal) finds the dev system without hand-set variables.

One small JSON file per user, written once everything is up and removed on exit. A file left
by a dev run that was killed names a process that is gone, and is ignored.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

__all__ = [
    "DevState",
    "read_state",
    "remove_state",
    "settings_overrides",
    "state_path",
    "write_state",
]


@dataclass(frozen=True, slots=True)
class DevState:
    pid: int
    bootstrap_servers: str
    admin_url: str
    http_port: int
    topic_dlq: str
    topic_retry_prefix: str
    retry_tiers: str
    """As ``ENRICHER_RETRY_TIERS`` takes them, e.g. ``30s,300s,1800s``."""


def state_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_RUNTIME_DIR/enricher-dev.json`` (private to the user, cleared at log-out), else
    a per-user name in the temporary directory."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "enricher-dev.json"
    return Path(tempfile.gettempdir()) / f"enricher-dev-{os.getuid()}.json"


def write_state(state: DevState, path: Path | None = None) -> Path:
    path = path or state_path()
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps(asdict(state)))
    temporary.chmod(0o600)
    temporary.replace(path)  # a reader never sees half a file
    return path


def remove_state(path: Path | None = None, *, pid: int | None = None) -> None:
    """Only the file this process wrote: a second dev run may have replaced it."""
    path = path or state_path()
    state = read_state(path, check_alive=False)
    if state is not None and state.pid == (pid if pid is not None else os.getpid()):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_state(path: Path | None = None, *, check_alive: bool = True) -> DevState | None:
    """The running dev system's state, or None (no file, unreadable, or its process is gone)."""
    path = path or state_path()
    try:
        state = DevState(**orjson.loads(path.read_bytes()))
    except (OSError, ValueError, TypeError):
        return None
    if check_alive and not _alive(state.pid):
        return None
    return state


def settings_overrides(state: DevState, environ: Mapping[str, str]) -> dict[str, object]:
    """Settings for talking to the dev system, except those the user set: a variable set by
    hand always wins. The embedded broker has no idempotent producer."""
    wanted: dict[str, object] = {
        "kafka_bootstrap_servers": state.bootstrap_servers,
        "kafka_enable_idempotence": False,
        "topic_dlq": state.topic_dlq,
        "topic_retry_prefix": state.topic_retry_prefix,
        "retry_tiers": state.retry_tiers,
    }
    given = {name.upper() for name in environ}
    return {k: v for k, v in wanted.items() if f"ENRICHER_{k.upper()}" not in given}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
