"""A platform installed as a plug-in is a platform like the built-in ones: the tenants file
takes its block under its id, checked by its own model with file locations, its secrets are
references, the admin API filters by it and the tenants-file reference documents it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from service.platforms.registry import PlatformId
from service.tenants import ConfigError, parse_tenants
from tests.fixtures.plugins import ACME_PLATFORM, installed, registered
from tools.docs_reference import ROOT, render_all

ACME_TENANT = """\
tenants:
  initech:
    platform: acme-crm
    acme-crm:
      base_url: https://acme.example
      token: ${ACME_TOKEN}
    fields:
      Sentiment: {from: sentiment.label}
"""


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    plugins = installed(
        tmp_path, monkeypatch, {"acme_platform": ACME_PLATFORM}, "acme = acme_platform:SPEC"
    )
    with registered(plugins):
        yield


@pytest.mark.usefixtures("acme")
def test_a_tenant_on_a_plugin_platform_loads_with_its_block() -> None:
    tenant = parse_tenants(ACME_TENANT, environ={"ACME_TOKEN": "tok-123"}).tenants["initech"]
    assert tenant.platform == "acme-crm"
    assert type(tenant.settings).__name__ == "AcmeSettings"
    assert tenant.secret_values() == ["tok-123"]
    assert tenant.settings.write_window() == "after_close"


@pytest.mark.usefixtures("acme")
def test_a_plugin_block_is_checked_by_its_own_model_with_file_locations() -> None:
    text = ACME_TENANT.replace("${ACME_TOKEN}", "tok-123").replace(
        "      base_url: https://acme.example\n", "      base_ur1: https://acme.example\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, source="t.yaml", environ={})
    assert [p.render("t.yaml") for p in caught.value.problems] == [
        "t.yaml:5:17: tenants.initech.acme-crm.base_ur1: unknown setting",
        "t.yaml:5:7: tenants.initech.acme-crm.base_url: required setting is missing",
        "t.yaml:6:14: tenants.initech.acme-crm.token: secrets must be references such as "
        "${ACME_CLIENT_SECRET} or ${file:/var/run/secrets/acme/client-secret}, never literal "
        "values",
    ]


@pytest.mark.usefixtures("acme")
def test_a_plugin_platform_is_a_known_platform_everywhere_one_is_named() -> None:
    assert TypeAdapter(PlatformId).validate_python("acme-crm") == "acme-crm"
    assert TypeAdapter(PlatformId).json_schema()["enum"][-1] == "acme-crm"
    page = render_all()[ROOT / "docs/reference/tenants-file.md"]
    assert "\n## Acme CRM\n" in page
    assert "| `tenants.<tenant>.acme-crm.token` | secret reference | required |" in page
    assert "`nice-cxone`, `sinch-contact-pro`, `8x8`, `genesys-gws`, `http`, `acme-crm`" in page


def test_a_tenants_file_cannot_load_beside_a_broken_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"acme_platform": "import acme_sdk_that_is_not_installed\n"}
    plugins = installed(tmp_path, monkeypatch, broken, "acme = acme_platform:SPEC")
    with registered(plugins), pytest.raises(ConfigError) as caught:
        parse_tenants(ACME_TENANT, source="t.yaml", environ={"ACME_TOKEN": "x"})
    [problem] = caught.value.problems
    assert problem.render("t.yaml").startswith(
        "t.yaml: platform plug-in 'acme' from the distribution acme-platforms 1.2 does not load"
    )
    assert "ModuleNotFoundError" in problem.message
