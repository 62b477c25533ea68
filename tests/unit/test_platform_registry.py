"""The platform registry: the built-in specs, plug-ins from installed distributions, and the
errors a broken or clashing plug-in gives at start-up."""

from __future__ import annotations

import dataclasses
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from service.platforms.registry import (
    PlatformPluginError,
    UnknownPlatform,
    built_in,
    collect,
    spec_for,
    specs,
)
from tests.fixtures.plugins import installed

PLUGIN = """
import dataclasses
from service.platforms.registry import built_in

_model = built_in()[0]
SPEC = dataclasses.replace(_model, id="{id}", title="Plug-in")
NOT_A_SPEC = "a string"
"""
MODULES = {
    "acme_platform": PLUGIN.format(id="acme-crm"),
    "acme_clash": PLUGIN.format(id="8x8"),
    "acme_broken": "raise RuntimeError('missing dependency')\n",
}


def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entries: str) -> list[EntryPoint]:
    return installed(tmp_path, monkeypatch, MODULES, *entries)


def test_the_built_in_platforms_come_first_in_their_order() -> None:
    assert list(specs())[:4] == ["nice-cxone", "sinch-contact-pro", "8x8", "genesys-gws"]
    for spec in built_in():
        assert spec_for(spec.id) is spec


def test_an_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(UnknownPlatform, match="'avaya'; known: nice-cxone, sinch-contact-pro"):
        spec_for("avaya")


def test_a_plugin_spec_joins_the_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = collect(built_in(), plugins(tmp_path, monkeypatch, "acme = acme_platform:SPEC"))
    assert list(found)[-1] == "acme-crm"
    assert found["acme-crm"].title == "Plug-in"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("acme = acme_broken:SPEC", "'acme' from the distribution acme-platforms 1.2 does not"),
        ("acme = acme_platform:NOT_A_SPEC", "acme-platforms 1.2 is a str, not a PlatformSpec"),
        ("acme = acme_clash:SPEC", "'8x8' from the distribution acme-platforms 1.2 is already"),
        ("acme = acme_platform:MISSING", "acme-platforms 1.2 does not load"),
    ],
)
def test_a_broken_or_clashing_plugin_is_named_by_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, message: str
) -> None:
    found = plugins(tmp_path, monkeypatch, entry)
    with pytest.raises(PlatformPluginError, match=message):
        collect(built_in(), found)


@pytest.mark.parametrize("bad_id", ["fields", "Upper", "", "has space", "x" * 49])
def test_an_id_must_be_usable_as_a_tenant_block_key(bad_id: str) -> None:
    spec = dataclasses.replace(built_in()[0], id=bad_id)
    with pytest.raises(PlatformPluginError, match="an id is lower-case"):
        collect([spec], [])
