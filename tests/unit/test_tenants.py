from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.tenants import ConfigError, load_tenants, parse_tenants

GOOD = """\
tenants:
  acme:
    platform: nice-cxone
    nice-cxone:
      issuer: https://cxone.niceincontact.com
      client_id: my-app
      client_secret: ${ACME_NICE_CLIENT_SECRET}
      access_key_id: ${ACME_NICE_KEY_ID}
      access_key_secret: ${file:SECRET_FILE}
      level: contact
    limits: {rate_per_second: 20, max_concurrency: 32}
    fields:
      Sentiment: {from: sentiment.label}
      SentimentScore: {from: sentiment.score, type: number}
      CrmAccount: {from: crm_account}
"""
ENV = {"ACME_NICE_CLIENT_SECRET": "cs", "ACME_NICE_KEY_ID": "kid"}


def good(tmp_path: Path) -> str:
    secret = tmp_path / "key-secret"
    secret.write_text("ks\n")
    return GOOD.replace("SECRET_FILE", str(secret))


def test_design_example_loads_with_references_resolved(tmp_path: Path) -> None:
    config = parse_tenants(good(tmp_path), environ=ENV)
    acme = config.tenants["acme"]
    nice = acme.settings
    assert isinstance(nice, NiceCxoneSettings)
    assert nice.client_secret.get_secret_value() == "cs"
    assert nice.access_key_secret.get_secret_value() == "ks"
    assert acme.fields["SentimentScore"].type == "number"
    assert acme.retention == timedelta(days=7)
    basic = "bXktYXBwOmNz"  # base64("my-app:cs"), as sent to the token endpoint
    assert sorted(config.secret_values()) == sorted(["cs", "kid", "ks", basic])
    assert "cs" not in repr(config)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, source="t.yaml", environ=ENV if env is None else env)
    return [p.render("t.yaml") for p in caught.value.problems]


def test_every_problem_is_reported_with_its_location(tmp_path: Path) -> None:
    text = (
        good(tmp_path)
        .replace("type: number", "type: numbr")
        .replace("{from: crm_account}", "{from: crm_account, colour: red}")
    )
    found = problems(text, env={"ACME_NICE_KEY_ID": "kid"})
    assert found == [
        "t.yaml:7:22: tenants.acme.nice-cxone.client_secret: environment variable "
        "ACME_NICE_CLIENT_SECRET is not set",
        "t.yaml:14:53: tenants.acme.fields.SentimentScore.type: Input should be 'string', "
        "'number' or 'boolean'",
        "t.yaml:15:47: tenants.acme.fields.CrmAccount.colour: unknown setting",
    ]


def test_literal_secrets_are_refused(tmp_path: Path) -> None:
    text = good(tmp_path).replace("${ACME_NICE_CLIENT_SECRET}", "hunter2")
    [problem] = problems(text)
    assert "tenants.acme.nice-cxone.client_secret" in problem
    assert "never literal" in problem
    assert "hunter2" not in problem


def test_platform_block_must_match_platform(tmp_path: Path) -> None:
    text = "tenants:\n  acme:\n    platform: nice-cxone\n    fields: {A: {from: a}}\n"
    [problem] = problems(text)
    assert "'nice-cxone' block is missing" in problem


def test_unknown_platform_and_empty_mapping(tmp_path: Path) -> None:
    text = "tenants:\n  acme:\n    platform: avaya\n    fields: {}\n"
    found = problems(text)
    assert any("platform" in p and "nice-cxone" in p for p in found)
    assert any("map at least one field" in p for p in found)


def test_a_platform_that_is_not_installed_is_one_problem_not_two() -> None:
    """Its block is unknown only because the platform is: saying so twice buries the fix."""
    text = "tenants:\n  acme:\n    platform: avaya\n    avaya: {x: 1}\n    fields: {A: {from: a}}\n"
    [problem] = problems(text)
    assert "tenants.acme.platform" in problem


def test_a_block_for_another_installed_platform_is_still_unknown() -> None:
    text = (
        "tenants:\n  acme:\n    platform: avaya\n    avaya: {x: 1}\n    http: {x: 1}\n"
        "    fields: {A: {from: a}}\n"
    )
    found = problems(text)
    assert any("tenants.acme.http." in p for p in found)
    assert not any("tenants.acme.avaya" in p for p in found)


def test_yaml_syntax_error_has_a_line() -> None:
    [problem] = problems("tenants:\n  acme: [unclosed\n")
    assert problem.startswith("t.yaml:3:")
    assert "not valid YAML" in problem


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_tenants(tmp_path / "absent.yaml")


EIGHT_BY_EIGHT = """\
tenants:
  globex:
    platform: 8x8
    8x8:
      base_url: https://vcc-na12.8x8.com
      tenant_id: globex
      action_token: ${{TOKEN}}
{extra}    fields:
      _Sentiment: {{from: sentiment.label}}
"""


def eight_by_eight(*settings: str) -> str:
    return EIGHT_BY_EIGHT.format(extra="".join(f"      {line}\n" for line in settings))


def test_a_platform_says_which_request_window_it_documents(tmp_path: Path) -> None:
    eight = parse_tenants(eight_by_eight(), environ={"TOKEN": "t"}).tenants["globex"]
    nice = parse_tenants(good(tmp_path), environ=ENV).tenants["acme"]

    assert eight.settings.request_window() == (100, 60.0)
    assert nice.settings.request_window() is None


def test_the_8x8_window_can_be_shortened_for_a_simulator_but_not_to_nothing() -> None:
    text = eight_by_eight("requests_per_minute: 3", "rate_window: 2s")
    short = parse_tenants(text, environ={"TOKEN": "t"}).tenants["globex"]
    assert short.settings.request_window() == (3, 2.0)

    [problem] = problems(eight_by_eight("rate_window: 0s"), {"TOKEN": "t"})
    assert "rate_window" in problem


def test_without_resolving_a_reference_in_a_url_setting_is_not_a_problem() -> None:
    """``check-config --no-resolve`` is for a CI job without the secrets: the dev tenants file,
    whose every vendor address is a reference, must pass there as it does with them set."""
    text = (Path(__file__).resolve().parents[2] / "service/dev/tenants.yaml").read_text()
    config = parse_tenants(text, environ={}, resolve=False)
    assert len(config.tenants) == 5


def test_without_resolving_a_literal_mistake_beside_a_reference_is_still_found() -> None:
    text = GOOD.replace("issuer: https://cxone.niceincontact.com", "issuer: ${NICE_ISSUER}")
    text = text.replace("rate_per_second: 20", "rate_per_second: -1")
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, environ={}, resolve=False)
    assert [p.path for p in caught.value.problems] == ["tenants.acme.limits.rate_per_second"]
    bad = GOOD.replace("issuer: https://cxone.niceincontact.com", "issuer: ${not a name}")
    with pytest.raises(ConfigError, match="is not a reference"):
        parse_tenants(bad, environ={}, resolve=False)
