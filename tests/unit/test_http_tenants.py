"""An ``http`` tenant in the tenants file: it loads, its secrets are references, and every
mistake in a template is reported at its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.platforms.http.settings import HttpSettings
from service.tenants import ConfigError, parse_tenants

GOOD = """\
tenants:
  initech:
    platform: http
    http:
      base_url: https://crm.example.com/api
      method: PUT
      path: /tickets/{ref.ticket_id}/fields?origin={tenant}
      headers: {X-Team: contact-center}
      secret_headers:
        X-Api-Key: ${API_KEY}
      body: {shape: pairs, under: fields, members: {interaction: "{interaction_id}"}}
      auth:
        type: client_credentials
        token_url: https://login.example.com/token
        client_id: enricher
        client_secret: ${CLIENT_SECRET}
      outcomes:
        - {status: 404, outcome: retry, reason: not_found_indexing, until_after_close: 10m}
        - {status: 404, outcome: permanent, reason: not_found}
    fields:
      Sentiment: {from: sentiment.label}
      Card: {from: card_last4, privacy: true}
"""
ENV = {"API_KEY": "k-1", "CLIENT_SECRET": "s-1", "PREFIX": "v2"}


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, source="t.yaml", environ=ENV)
    return [p.render("t.yaml") for p in caught.value.problems]


def test_an_http_tenant_loads_and_names_its_secrets() -> None:
    config = parse_tenants(GOOD, environ=ENV)
    tenant = config.tenants["initech"]
    assert isinstance(tenant.settings, HttpSettings)
    assert tenant.settings.secret_headers["X-Api-Key"].get_secret_value() == "k-1"
    assert {"k-1", "s-1"} <= set(config.secret_values())
    assert tenant.private_sources() == {"card_last4"}


@pytest.mark.parametrize(
    ("before", "after", "where", "words"),
    [
        (
            "path: /tickets/{ref.ticket_id}/fields",
            "path: /tickets/{ticket_id}/fields",
            "t.yaml:7:22: tenants.initech.http.path",
            "unknown placeholder {ticket_id}",
        ),
        (
            "path: /tickets/{ref.ticket_id}/fields?origin={tenant}",
            "path: '/tickets/{ref.ticket_id/fields'",
            "t.yaml:7:23: tenants.initech.http.path",
            "never closed",
        ),
        (
            "path: /tickets/{ref.ticket_id}/fields",
            "path: https://other.example/{ref.ticket_id}",
            "t.yaml:7:13: tenants.initech.http.path",
            "must start with '/'",
        ),
        (
            "path: /tickets/{ref.ticket_id}/fields?origin={tenant}",
            "path: /tickets/{ref.ticket_id}/fields#{tenant}",
            "t.yaml:7:44: tenants.initech.http.path",
            "fragment",
        ),
        (
            'interaction: "{interaction_id}"',
            'interaction: "call {interactionid}"',
            "t.yaml:11:72: tenants.initech.http.body.members.interaction",
            "unknown placeholder {interactionid}",
        ),
    ],
)
def test_a_template_mistake_is_reported_at_its_column(
    before: str, after: str, where: str, words: str
) -> None:
    assert before in GOOD
    [problem] = problems(GOOD.replace(before, after))
    assert problem.startswith(where + ": "), problem
    assert words in problem


@pytest.mark.parametrize(
    ("before", "after", "where"),
    [
        ("client_secret: ${CLIENT_SECRET}", "client_secret: s-1", "t.yaml:16:24:"),
        ("X-Api-Key: ${API_KEY}", "X-Api-Key: k-1", "t.yaml:10:20:"),
        (
            "type: client_credentials",
            "type: bearer\n        token: t-1\n      xauth:",
            "t.yaml:14:16:",
        ),
    ],
)
def test_a_literal_secret_is_refused_where_it_is(before: str, after: str, where: str) -> None:
    found = [p for p in problems(GOOD.replace(before, after)) if "never literal values" in p]
    assert [p.split(" ")[0] for p in found] == [where]


def test_a_template_with_a_reference_is_reported_at_its_start() -> None:
    """After a reference is resolved, the value's characters no longer line up with the
    file's, so the problem points at the value rather than at a wrong column."""
    text = GOOD.replace("/fields?origin={tenant}", "/${PREFIX}/{nope}")
    [problem] = problems(text.replace("      headers:", "      headers:"))
    assert problem.startswith("t.yaml:7:13: tenants.initech.http.path: ")


def test_the_docs_page_example_loads() -> None:
    page = (Path(__file__).parents[2] / "docs" / "platforms" / "http.md").read_text()
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_tenants(example, environ={}, resolve=False)
    settings = config.tenants["initech"].settings
    assert isinstance(settings, HttpSettings)
    assert settings.body.shape == "pairs"


@pytest.mark.parametrize(
    ("before", "after", "setting"),
    [
        (
            "base_url: https://crm.example.com/api",
            "base_url: http://crm.example.com/api",
            "base_url",
        ),
        (
            "token_url: https://login.example.com/token",
            "token_url: http://login.example.com/token",
            "auth.token_url",
        ),
    ],
)
def test_credentials_are_refused_over_plain_http_to_another_host(
    before: str, after: str, setting: str
) -> None:
    [problem] = problems(GOOD.replace(before, after))
    assert f"{setting} is http:// to another host" in problem
    assert "allow_plain_http: true" in problem
    trusted = GOOD.replace(before, after).replace(
        "      method: PUT\n", "      method: PUT\n      allow_plain_http: true\n"
    )
    assert parse_tenants(trusted, environ=ENV).tenants["initech"]


def test_plain_http_is_fine_on_this_machine_or_without_credentials() -> None:
    local = GOOD.replace("https://crm.example.com/api", "http://127.0.0.1:8089/api").replace(
        "https://login.example.com/token", "http://localhost:8089/token"
    )
    assert parse_tenants(local, environ=ENV).tenants["initech"]
    anonymous = GOOD.replace("https://crm.example.com/api", "http://crm.example.com/api")
    anonymous = anonymous.replace("      secret_headers:\n        X-Api-Key: ${API_KEY}\n", "")
    anonymous = (
        anonymous[: anonymous.index("      auth:")]
        + "      auth: {type: none}\n"
        + (anonymous[anonymous.index("      outcomes:") :])
    )
    assert parse_tenants(anonymous, environ=ENV).tenants["initech"]
