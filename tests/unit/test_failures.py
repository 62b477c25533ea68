"""How a failure reads: which exceptions mean which class, and the words and codes of each."""

from __future__ import annotations

import errno

import pytest
from aiokafka.errors import KafkaConnectionError, UnknownError
from pydantic import ValidationError

from service.admin.models import DeadLetterQuery
from service.admin.selection import selection_problems
from service.failures import ExitCode, describe, port_unavailable
from service.runtime import Reachability
from service.settings import Settings, settings_problems


def test_a_connection_error_is_an_unreachable_broker_named_with_its_address() -> None:
    failure = describe(
        KafkaConnectionError("Unable to bootstrap from [('b', 9092)]"),
        bootstrap="b:9092",
        bootstrap_source="ENRICHER_KAFKA_BOOTSTRAP_SERVERS",
    )
    assert failure is not None
    assert failure.code == ExitCode.BROKER_UNREACHABLE
    assert int(failure.code) == 3
    assert failure.lines() == [
        "error: no Kafka broker answers at b:9092 (ENRICHER_KAFKA_BOOTSTRAP_SERVERS)",
        "  fix: start the broker, or set ENRICHER_KAFKA_BOOTSTRAP_SERVERS to its host:port",
    ]


@pytest.mark.parametrize("exc", [UnknownError(), KeyError("x"), RuntimeError("boom")])
def test_other_errors_are_not_guessed_at(exc: Exception) -> None:
    assert describe(exc, bootstrap="b:9092", bootstrap_source="x") is None


def test_a_busy_port_and_a_forbidden_one_read_differently() -> None:
    busy = port_unavailable("0.0.0.0", 8080, OSError(errno.EADDRINUSE, "Address already in use"))
    assert busy.code == ExitCode.PORT_IN_USE
    assert busy.what == "port 8080 on 0.0.0.0 is already in use (ENRICHER_HTTP_PORT)"
    denied = port_unavailable("127.0.0.1", 80, OSError(errno.EACCES, "Permission denied"))
    assert denied.what == (
        "cannot listen on 127.0.0.1:80 (ENRICHER_HTTP_HOST, ENRICHER_HTTP_PORT): Permission denied"
    )


def test_every_settings_problem_names_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENRICHER_HTTP_PORT", "eighty")
    monkeypatch.setenv("ENRICHER_ADMIN_TOKEN_FILE", "/nope")
    with pytest.raises(ValidationError) as caught:
        Settings()
    [problem] = settings_problems(caught.value)
    assert problem == (
        "error: ENRICHER_ADMIN_TOKEN_FILE '/nope': No such file or directory; "
        "name a readable file, or set ENRICHER_ADMIN_TOKEN instead"
    )
    monkeypatch.delenv("ENRICHER_ADMIN_TOKEN_FILE")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert settings_problems(caught.value) == [
        "error: ENRICHER_HTTP_PORT: Input should be a valid integer, unable to parse string as "
        "an integer (got 'eighty')"
    ]


def test_a_secret_is_never_echoed_in_a_settings_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHER_LEDGER_URL", "memcached://:hunter2@cache")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "hunter2" not in "\n".join(settings_problems(caught.value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("platform", "nice"),
        ("platform", "nice-cxone"),
        ("tenant", "ac$me"),
        ("tenant", "acme"),
        ("reason", "rejected"),
        ("reason", "not a reason"),
        ("interaction", "x" * 257),
        ("interaction", "call-1"),
    ],
)
def test_the_command_line_refuses_a_filter_exactly_when_the_api_does(name: str, value: str) -> None:
    try:
        DeadLetterQuery.model_validate({name: value})
    except ValidationError:
        api_refuses = True
    else:
        api_refuses = False
    assert (name in selection_problems({name: value})) == api_refuses


def test_reachability_changes_once_per_transition() -> None:
    broker = Reachability()
    assert broker.answered(0.0) is None
    assert broker.lost(1.0) is True
    assert broker.lost(2.0) is False
    assert broker.answered(4.5) == 3.5
    assert broker.answered(5.0) is None
