"""The generic HTTP platform's outcome table, from tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from service.platforms.http.outcome_table import classify
from service.platforms.http.settings import OutcomeRule
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpResponse

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
RULES = TypeAdapter(list[OutcomeRule]).validate_python(
    [
        {
            "status": 404,
            "outcome": "retry",
            "reason": "not_found_indexing",
            "until_after_close": "10m",
        },
        {"status": 404, "outcome": "permanent", "reason": "not_found"},
        {"status": 409, "outcome": "permanent", "reason": "write_window_closed"},
        {"status": "202", "outcome": "retry", "reason": "accepted_not_applied"},
        {"status": "520-529", "outcome": "permanent", "reason": "edge_refused"},
        {"status": "4xx", "outcome": "permanent"},
    ]
)


def answer(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, b'{"e":1}')


@pytest.mark.parametrize(
    ("status", "closed_ago", "kind", "reason"),
    [
        (200, None, OutcomeKind.DELIVERED, "delivered"),
        (204, None, OutcomeKind.DELIVERED, "delivered"),
        (202, None, OutcomeKind.RETRY, "accepted_not_applied"),
        (404, timedelta(minutes=2), OutcomeKind.RETRY, "not_found_indexing"),
        (404, timedelta(minutes=11), OutcomeKind.PERMANENT, "not_found"),
        (404, None, OutcomeKind.PERMANENT, "not_found"),
        (409, None, OutcomeKind.PERMANENT, "write_window_closed"),
        (422, None, OutcomeKind.PERMANENT, "http_422"),
        (523, None, OutcomeKind.PERMANENT, "edge_refused"),
        (503, None, OutcomeKind.RETRY, "http_503"),
        (301, None, OutcomeKind.PERMANENT, "http_301"),
    ],
)
def test_the_tenants_rows_decide_first_in_order(
    status: int, closed_ago: timedelta | None, kind: OutcomeKind, reason: str
) -> None:
    closed_at = None if closed_ago is None else NOW - closed_ago
    outcome = classify(answer(status), RULES, closed_at, NOW)
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status)


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (200, OutcomeKind.DELIVERED, "delivered"),
        (400, OutcomeKind.PERMANENT, "rejected"),
        (401, OutcomeKind.PERMANENT, "auth_failed"),
        (403, OutcomeKind.PERMANENT, "permission_denied"),
        (404, OutcomeKind.PERMANENT, "http_404"),
        (408, OutcomeKind.RETRY, "http_408"),
        (425, OutcomeKind.RETRY, "http_425"),
        (429, OutcomeKind.RETRY, "http_429"),
        (500, OutcomeKind.RETRY, "http_500"),
        (599, OutcomeKind.RETRY, "http_599"),
    ],
)
def test_the_defaults_without_rows(status: int, kind: OutcomeKind, reason: str) -> None:
    outcome = classify(answer(status), [], None, NOW)
    assert (outcome.kind, outcome.reason) == (kind, reason)


@pytest.mark.parametrize("rules", [[], RULES[3:4]])
def test_retry_after_is_read_from_seconds_and_from_a_date(rules: list[OutcomeRule]) -> None:
    in_seconds = classify(answer(429, retry_after="7"), rules, None, NOW)
    assert in_seconds.retry_after == 7
    date = "Fri, 20 Nov 2026 10:30:30 GMT"
    assert classify(answer(503, retry_after=date), rules, None, NOW).retry_after == 30
    assert classify(answer(202, retry_after="3"), RULES, None, NOW).retry_after == 3


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"status": 600, "outcome": "retry"}, "within 100-599"),
        ({"status": "5xy", "outcome": "retry"}, "not a status code"),
        ({"status": "503-500", "outcome": "retry"}, "low to high"),
        ({"status": True, "outcome": "retry"}, "status is a code"),
        ({"status": 404, "outcome": "permanent", "until_after_close": "5m"}, "only applies"),
        ({"status": 404, "outcome": "retry", "until_after_close": 0}, "longer than zero"),
        (
            {"status": 404, "outcome": "permanent", "reason": "Not Found"},
            "is not a reason: lower-case snake_case",
        ),
        ({"status": 404, "outcome": "maybe"}, "delivered"),
    ],
)
def test_rows_that_cannot_mean_anything_are_refused(row: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        OutcomeRule.model_validate(row)
