"""The request builder and the outcome table, from tables: no network, no service."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import SecretStr
from service.platforms.base import Delivery
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse

from acme_notes_enricher.settings import AcmeNotesSettings
from acme_notes_enricher.wire import build_request, classify

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
SETTINGS = AcmeNotesSettings.model_validate(
    {
        "base_url": "https://api.acmenotes.example/",
        "workspace": "support",
        "client_id": "enricher",
        "client_secret": "s3cret",
    }
)


def _delivery(ref: dict[str, str]) -> Delivery:
    return Delivery(
        tenant="acme",
        interaction_id="call-1",
        revision=3,
        ref=ref,
        channel="voice",
        status="Handled",
        closed_at=NOW,
        values={"Sentiment": "positive", "Score": 0.8},
    )


def test_the_request_addresses_the_note_and_carries_the_fields() -> None:
    request = build_request(SETTINGS, _delivery({"note_id": "N 7/1"}))
    assert isinstance(request, HttpRequest)
    assert request.method == "PATCH"
    assert request.url == (
        "https://api.acmenotes.example/v2/workspaces/support/notes/N%207%2F1/fields"
    )
    assert request.body is not None
    assert orjson.loads(request.body) == {"fields": {"Sentiment": "positive", "Score": 0.8}}
    assert request.headers["Idempotency-Key"] == "acme:call-1:3"
    assert "Authorization" not in request.headers  # the authenticator adds it


def test_an_event_without_a_note_id_is_a_permanent_refusal() -> None:
    outcome = build_request(SETTINGS, _delivery({"contact_id": "42"}))
    assert isinstance(outcome, Outcome)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.PERMANENT, "missing_routing")


@pytest.mark.parametrize(
    ("status", "headers", "kind", "reason", "retry_after"),
    [
        (204, {}, OutcomeKind.DELIVERED, "delivered", None),
        (200, {}, OutcomeKind.DELIVERED, "delivered", None),
        (409, {}, OutcomeKind.RETRY, "note_locked", None),
        (429, {"retry-after": "7"}, OutcomeKind.RETRY, "http_429", 7.0),
        (503, {}, OutcomeKind.RETRY, "http_503", None),
        (400, {}, OutcomeKind.PERMANENT, "rejected", None),
        (401, {}, OutcomeKind.PERMANENT, "auth_failed", None),
        (403, {}, OutcomeKind.PERMANENT, "permission_denied", None),
        (404, {}, OutcomeKind.PERMANENT, "note_not_found", None),
        (410, {}, OutcomeKind.PERMANENT, "note_archived", None),
        (418, {}, OutcomeKind.PERMANENT, "http_418", None),
    ],
)
def test_outcome_table(
    status: int,
    headers: dict[str, str],
    kind: OutcomeKind,
    reason: str,
    retry_after: float | None,
) -> None:
    outcome = classify(HttpResponse(status, headers, b'{"error": "x"}'), NOW)
    assert (outcome.kind, outcome.reason, outcome.retry_after) == (kind, reason, retry_after)


def test_every_form_of_the_secret_on_the_wire_is_scrubbed() -> None:
    settings = SETTINGS.model_copy(update={"client_secret": SecretStr("a b+c")})
    assert settings.secret_values() == ["a b+c", "ZW5yaWNoZXI6YStiJTJCYw=="]  # enricher:a+b%2Bc
