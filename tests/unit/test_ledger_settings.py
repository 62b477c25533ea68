"""``ENRICHER_LEDGER_*``: which URLs start the service, and where a Redis password may show."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from service.ledger.base import ledger_backend, redact_url, url_password
from service.ledger.opening import open_ledger
from service.ledger.redis import RedisLedger
from service.redaction import Redactor
from service.settings import Settings

PASSWORD = "s3cr3t-hunter2"


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("sqlite:///./enricher-ledger.sqlite3", "sqlite"),
        ("sqlite:////var/lib/enricher/ledger.sqlite3", "sqlite"),
        ("redis://redis:6379/0", "redis"),
        ("redis://redis", "redis"),
        ("rediss://enricher:pw@redis.cache.example.com:6380/2", "redis"),
        ("redis://[::1]:6379/0?socket_timeout=2", "redis"),
    ],
)
def test_supported_ledger_urls(url: str, backend: str) -> None:
    assert Settings(ledger_url=url).ledger_url == url
    assert ledger_backend(url) == backend


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://db/enricher", "unsupported ledger URL"),
        ("redis+sentinel://sentinel:26379/mymaster", "unsupported ledger URL"),
        ("/var/lib/ledger.sqlite3", "unsupported ledger URL"),
        ("redis:///0", "names no host"),
        ("redis://redis:port/0", "Port could not be cast"),
        ("redis://redis:6379/cache", "the path is the database number"),
        ("redis://redis:6379/0?password=s3cr3t", "not as ?password="),
    ],
)
def test_other_ledger_urls_are_refused_naming_the_variable(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(ledger_url=url)
    (error,) = caught.value.errors()
    assert error["loc"] == ("ledger_url",)
    assert message in error["msg"]
    if "unsupported" in message:
        assert "sqlite:///path, redis://host:6379/0 and rediss://host:6380/0" in error["msg"]


def test_refusal_never_repeats_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(ledger_url=f"mongodb://enricher:{PASSWORD}@db/x")
    (error,) = caught.value.errors()
    assert PASSWORD not in error["msg"]
    assert "mongodb://enricher:***@db/x" in error["msg"]


def test_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    settings = Settings(ledger_url="redis://redis:6379/0", ledger_password_file=secret)
    assert settings.ledger_password == SecretStr(PASSWORD)
    assert PASSWORD in settings.secret_values()
    assert PASSWORD not in repr(settings)


def test_password_given_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="set twice"):
        Settings(ledger_url="redis://:a-password@redis:6379/0", ledger_password="another")


@pytest.mark.parametrize("prefix", ["{enricher}:", "enricher}"])
def test_key_prefix_may_not_hold_a_hash_tag(prefix: str) -> None:
    with pytest.raises(ValidationError, match="hash tag"):
        Settings(ledger_key_prefix=prefix)


def test_password_in_the_url_is_masked_in_logs_and_dumps() -> None:
    url = "rediss://enricher:p%40ss-word-1@redis:6380/0"
    settings = Settings(ledger_url=url)
    assert sorted(settings.secret_values()) == ["p%40ss-word-1", "p@ss-word-1"]
    redact = Redactor(settings.secret_values())
    assert "p@ss" not in redact("AUTH enricher p@ss-word-1 failed")
    assert "p%40ss" not in redact(f"connecting to {url}")
    dumped = settings.model_dump(mode="json")["ledger_url"]
    assert dumped == "rediss://enricher:***@redis:6380/0"
    assert "p%40ss" not in settings.model_dump_json()
    assert orjson.loads(settings.model_dump_json())["ledger_password"] is None
    assert settings.model_dump()["ledger_url"] == url  # the service itself still connects


@pytest.mark.parametrize(
    ("url", "masked", "password"),
    [
        ("redis://redis:6379/0", "redis://redis:6379/0", None),
        ("redis://enricher@redis/0", "redis://enricher@redis/0", None),
        ("redis://:pw@redis/0", "redis://:***@redis/0", "pw"),
        ("rediss://u:p:w@h:6380", "rediss://u:***@h:6380", "p:w"),
        ("sqlite:///x.sqlite3", "sqlite:///x.sqlite3", None),
    ],
)
def test_url_password_and_redaction(url: str, masked: str, password: str | None) -> None:
    assert redact_url(url) == masked
    assert url_password(url) == password


async def test_open_ledger_hands_the_password_and_prefix_to_redis() -> None:
    ledger = open_ledger(
        "redis://enricher@127.0.0.1:6379/0", password=SecretStr(PASSWORD), key_prefix="blue:"
    )
    assert isinstance(ledger, RedisLedger)
    try:
        kwargs = ledger._redis.connection_pool.connection_kwargs
        assert kwargs["password"] == PASSWORD
        assert kwargs["username"] == "enricher"
        assert ledger.keys("acme", "call-1")[0] == "blue:{acme:call-1}:entry"
    finally:
        await ledger.close()
