"""The generated reference pages: complete, never blank, and never stale in the repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.settings import Settings
from service.tenants import FieldMapping, Tenant, TenantsConfig
from tools import docs_reference
from tools.docs_reference import REFRESH, ROOT, duration, helm_values, render_all


@pytest.mark.parametrize("page", sorted(docs_reference.PAGES))
def test_committed_page_is_current(page: str) -> None:
    path = ROOT / page
    expected = render_all()[path]
    assert path.exists(), f"{page} is missing; run `{REFRESH}`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"{page} is stale: its source changed since it was generated; run `{REFRESH}` "
        "and commit the result"
    )


def test_every_setting_has_a_description() -> None:
    blank = [name for name, info in Settings.model_fields.items() if not info.description]
    assert blank == [], f"settings without a docstring: {blank}"


@pytest.mark.parametrize(
    "model",
    [
        TenantsConfig,
        Tenant,
        FieldMapping,
        NiceCxoneSettings,
        SinchContactProSettings,
        EightByEightSettings,
        GenesysGwsSettings,
    ],
)
def test_every_tenant_key_has_a_description(model: type[BaseModel]) -> None:
    blank = [name for name, info in model.model_fields.items() if not info.description]
    assert blank == [], f"{model.__name__} keys without a docstring: {blank}"


def test_settings_page_lists_every_variable() -> None:
    page = render_all()[ROOT / "docs/reference/settings.md"]
    for name in Settings.model_fields:
        assert f"| `ENRICHER_{name.upper()}` |" in page


def test_tenants_page_lists_every_key_by_its_file_name() -> None:
    page = render_all()[ROOT / "docs/reference/tenants-file.md"]
    assert "`tenants.<tenant>.nice-cxone.client_secret` | secret reference | required" in page
    assert "`tenants.<tenant>.fields.<name>.from` | string | required" in page
    assert "`tenants.<tenant>.limits.rate_per_second` | number (> 0) | `20.0`" in page
    assert "`tenants.<tenant>.8x8.base_url` | URL | required" in page
    blocks: list[tuple[type[BaseModel], str]] = [
        (SinchContactProSettings, "sinch-contact-pro"),
        (EightByEightSettings, "8x8"),
        (GenesysGwsSettings, "genesys-gws"),
    ]
    for model, block in blocks:
        for name in model.model_fields:
            assert f"`tenants.<tenant>.{block}.{name}`" in page


def test_helm_values_keep_comments_and_skip_examples() -> None:
    text = """# File header, detached by the blank line below.

# Above the key.
top: 1
section:
  # Nested, and continued
  # on a second line.
  key: PLAINTEXT # inline note
  quoted: "a # not a comment"
  list: []
  #  - commented-out example
  # Describes the next key only.
  block: |
    not: a key
  after: true
empty: {}
"""
    docs = {d.path: (d.value, d.description) for d in helm_values(text)}
    assert docs == {
        "top": (1, "Above the key."),
        "section.key": ("PLAINTEXT", "Nested, and continued on a second line. inline note"),
        "section.quoted": ("a # not a comment", ""),
        "section.list": ([], ""),
        "section.block": ("not: a key\n", "Describes the next key only."),
        "section.after": (True, ""),
        "empty": ({}, ""),
    }


def test_every_helm_value_is_listed() -> None:
    page = render_all()[ROOT / "docs/reference/helm-values.md"]
    for key in ("kafka.partitions", "ledger.redis.keyPrefix", "metrics.prometheusRule.enabled"):
        assert f"| `{key}` |" in page


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(days=7), "7d"),
        (timedelta(seconds=90), "90s"),
    ],
)
def test_durations_read_as_written(value: timedelta, text: str) -> None:
    assert duration(value) == text


def test_check_mode_reports_a_stale_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / docs_reference.VALUES
    values.parent.mkdir(parents=True)
    values.write_text((ROOT / docs_reference.VALUES).read_text(encoding="utf-8"))
    assert docs_reference.main(["--root", str(tmp_path)]) == 0
    assert docs_reference.main(["--check", "--root", str(tmp_path)]) == 0
    page = tmp_path / "docs/reference/settings.md"
    page.write_text(page.read_text(encoding="utf-8") + "hand edit\n", encoding="utf-8")
    assert docs_reference.main(["--check", "--root", str(tmp_path)]) == 1
    assert f"docs/reference/settings.md is stale; run `{REFRESH}`" in capsys.readouterr().err
