"""Only a platform's own package names it: the engine, the tenant loader, the admin API, dev
mode and the shared simulator code learn about platforms from the registry, so adding one
never means editing them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_AGNOSTIC = (
    "service/auth",
    "service/delivery",
    "service/pipeline.py",
    "service/runtime.py",
    "service/ledger",
    "service/merge.py",
    "service/mapping.py",
    "service/tenants.py",
    "service/admin",
    "service/dev",
    "service/simulators",
)
"""Modules that must work for any registered platform. ``service/dev/tenants.yaml`` is not a
module but the dev tenants file, an ordinary tenants file that names its tenants' platforms
as every tenants file does."""
NAMES = re.compile(r"nice|cxone|sinch|8x8|eight_by_eight|genesys|gws", re.IGNORECASE)


def platform_names(root: Path) -> list[str]:
    """``path:line: text`` for every line of a platform-agnostic module naming a platform."""
    found = []
    for part in PLATFORM_AGNOSTIC:
        path = root / part
        modules = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for module in modules:
            for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
                if NAMES.search(line):
                    found.append(f"{module.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_platform_agnostic_module_names_a_platform() -> None:
    assert platform_names(ROOT) == []


def test_the_search_finds_a_name_wherever_it_is(tmp_path: Path) -> None:
    (tmp_path / "service/ledger").mkdir(parents=True)
    (tmp_path / "service/ledger/x.py").write_text('"""Like Genesys."""\nA = "8X8"\nB = 1\n')
    for module in ("pipeline", "runtime", "merge", "mapping", "tenants"):
        (tmp_path / f"service/{module}.py").write_text("")
    for package in ("auth", "delivery", "admin", "dev", "simulators"):
        (tmp_path / "service" / package).mkdir()
    assert platform_names(tmp_path) == [
        'service/ledger/x.py:1: """Like Genesys."""',
        'service/ledger/x.py:2: A = "8X8"',
    ]
