"""Only a platform's own package names it: the engine, the tenant loader, the admin API, dev
mode, the commands and the shared simulator code learn about platforms from the registry, so
adding one never means editing them.

Every module of ``service/`` is searched except the platform packages themselves (a folder of
``service/platforms/`` whose ``__init__`` exports a ``SPEC``), so a module added anywhere else
is covered without an edit here. The one exception is the registry's list of built-in
packages: one line per platform is how a built-in platform is added."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = re.compile(r"nice|cxone|sinch|8x8|eight_by_eight|genesys|gws", re.IGNORECASE)
EXCEPTIONS = {
    "service/platforms/registry.py": re.compile(r'^\s*"service\.platforms\.\w+",$'),
}
"""Module -> the lines it may name a platform on (the registry's list of built-in packages)."""


def platform_packages(root: Path) -> list[Path]:
    platforms = root / "service/platforms"
    return [
        init.parent
        for init in sorted(platforms.glob("*/__init__.py"))
        if re.search(r"^SPEC\b", init.read_text(encoding="utf-8"), re.MULTILINE)
    ]


def platform_names(root: Path) -> list[str]:
    """``path:line: text`` for every line outside a platform package naming a platform."""
    packages = platform_packages(root)
    found = []
    for module in sorted((root / "service").rglob("*.py")):
        if any(module.is_relative_to(package) for package in packages):
            continue
        where = module.relative_to(root).as_posix()
        allowed = EXCEPTIONS.get(where)
        for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
            if NAMES.search(line) and not (allowed is not None and allowed.match(line)):
                found.append(f"{where}:{number}: {line.strip()}")
    return found


def test_no_module_outside_a_platform_package_names_a_platform() -> None:
    assert platform_names(ROOT) == []


def test_the_search_covers_every_module_but_the_platform_packages(tmp_path: Path) -> None:
    service = tmp_path / "service"
    (service / "ledger").mkdir(parents=True)
    (service / "ledger/x.py").write_text('"""Like Genesys."""\nA = "8X8"\nB = 1\n')
    (service / "new_module.py").write_text("URL = 'https://cxone.example'\n")
    (service / "platforms/acme").mkdir(parents=True)
    (service / "platforms/acme/__init__.py").write_text('SPEC = "like NICE"\n')
    (service / "platforms/helpers").mkdir()
    (service / "platforms/helpers/__init__.py").write_text('"""Not a platform: sinch."""\n')
    (service / "platforms/registry.py").write_text(
        'BUILT_IN = (\n    "service.platforms.nice_cxone",\n)\nDEFAULT = "nice-cxone"\n'
    )
    assert platform_names(tmp_path) == [
        'service/ledger/x.py:1: """Like Genesys."""',
        'service/ledger/x.py:2: A = "8X8"',
        "service/new_module.py:1: URL = 'https://cxone.example'",
        'service/platforms/helpers/__init__.py:1: """Not a platform: sinch."""',
        'service/platforms/registry.py:4: DEFAULT = "nice-cxone"',
    ]
