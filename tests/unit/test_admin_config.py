"""The redacted configuration: secrets by type, in URLs, and by value wherever they appear."""

from __future__ import annotations

import orjson
from pydantic import SecretStr

from service.admin.config_view import REDACTED, redacted_settings, redacted_tenants
from service.redaction import Redactor
from service.settings import Settings
from service.tenants import parse_tenants
from tests.unit.test_admin_routes import SECRETS, TENANTS_YAML


def test_secret_settings_are_redacted_and_the_rest_shown() -> None:
    settings = Settings(
        admin_token=SecretStr("admin-token-value"),
        kafka_bootstrap_servers="kafka-1:9092",
        config=None,
    )
    shown = redacted_settings(settings, Redactor(settings.secret_values()))
    assert shown["admin_token"] == REDACTED
    assert shown["kafka_sasl_password"] is None
    assert shown["kafka_bootstrap_servers"] == "kafka-1:9092"
    assert shown["commit_interval"] == 1.0
    assert "admin-token-value" not in orjson.dumps(shown).decode()


def test_credentials_in_a_url_are_redacted() -> None:
    settings = Settings(kafka_bootstrap_servers="https://user:hunter22@broker:9092", config=None)
    shown = redacted_settings(settings, Redactor())
    assert shown["kafka_bootstrap_servers"] == f"https://{REDACTED}@broker:9092"


def test_a_secret_that_leaked_into_an_ordinary_setting_is_masked_by_value() -> None:
    settings = Settings(group_id="group-with-secret-value-inside", config=None)
    shown = redacted_settings(settings, Redactor(["secret-value"]))
    assert shown["group_id"] == f"group-with-{REDACTED}-inside"


def test_tenants_show_every_setting_but_no_secret() -> None:
    tenants = parse_tenants(TENANTS_YAML, environ=SECRETS)
    shown = redacted_tenants(tenants.tenants, Redactor(tenants.secret_values()))
    text = orjson.dumps(shown).decode()
    for secret in [*SECRETS.values(), *tenants.secret_values()]:
        assert secret not in text
    nice = shown["acme"]["nice-cxone"]
    assert nice["client_secret"] == nice["access_key_id"] == nice["access_key_secret"] == REDACTED
    assert nice["issuer"] == "https://cxone.example"
    assert nice["not_found_grace"] == 600.0
    assert shown["eightco"]["fields"]["_CardLast4"] == {"from": "card_last4", "privacy": True}
    assert shown["eightco"]["limits"] == {"rate_per_second": 20.0, "max_concurrency": 32}
