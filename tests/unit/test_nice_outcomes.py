"""The NICE request builder and outcome table, without any IO."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from pydantic import SecretStr

from service.platforms.base import Delivery
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.nice_cxone.wire import build_request, classify
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse
from tests.unit.factories import T0

SETTINGS = NiceCxoneSettings(
    issuer="https://cxone.example",
    client_id="app",
    client_secret=SecretStr("s"),
    access_key_id=SecretStr("k"),
    access_key_secret=SecretStr("ks"),
)


def delivery(ref: dict[str, str] | None = None) -> Delivery:
    return Delivery(
        "acme",
        "call-1",
        3,
        ref if ref is not None else {"contact_id": "86 75"},
        "voice",
        "Handled",
        T0,
        {"Sentiment": "neg", "Vip": True, "Score": 0.5},
    )


def test_contact_level_put_is_a_json_array_of_single_key_objects() -> None:
    request = build_request(SETTINGS, "https://api-na1.example/", delivery())
    assert isinstance(request, HttpRequest)
    assert request.method == "PUT"
    assert (
        request.url
        == "https://api-na1.example/business-data-manager/v1/business-data/contact/86%2075"
    )
    assert "Authorization" not in request.headers  # the login's to apply (test_auth_cxone)
    assert orjson.loads(request.body or b"") == [
        {"Sentiment": "neg"},
        {"Vip": True},
        {"Score": 0.5},
    ]


def test_segment_level_needs_a_segment_id() -> None:
    segment = SETTINGS.model_copy(update={"level": "segment"})
    request = build_request(
        segment, "https://api", delivery({"contact_id": "1", "segment_id": "s/1"})
    )
    assert isinstance(request, HttpRequest)
    assert request.url.endswith("/contact/1/segment/s%2F1")
    missing = build_request(segment, "https://api", delivery({"contact_id": "1"}))
    assert isinstance(missing, Outcome)
    assert (missing.kind, missing.reason) == (OutcomeKind.PERMANENT, "missing_routing")


def test_missing_contact_id_is_permanent() -> None:
    outcome = build_request(SETTINGS, "https://api", delivery({}))
    assert isinstance(outcome, Outcome)
    assert outcome.kind is OutcomeKind.PERMANENT


def respond(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> HttpResponse:
    return HttpResponse(status, headers or {}, body)


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (204, OutcomeKind.DELIVERED, "delivered"),
        (400, OutcomeKind.PERMANENT, "rejected"),
        (403, OutcomeKind.PERMANENT, "permission_denied"),
        (408, OutcomeKind.RETRY, "http_408"),
        (409, OutcomeKind.PERMANENT, "http_409"),
        (425, OutcomeKind.RETRY, "http_425"),
        (429, OutcomeKind.RETRY, "http_429"),
        (500, OutcomeKind.RETRY, "http_500"),
        (503, OutcomeKind.RETRY, "http_503"),
    ],
)
def test_outcome_table(status: int, kind: OutcomeKind, reason: str) -> None:
    outcome = classify(respond(status), delivery(), SETTINGS, T0 + timedelta(hours=1))
    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status)


def test_404_soon_after_close_is_indexing_lag_and_later_is_permanent() -> None:
    soon = classify(respond(404), delivery(), SETTINGS, T0 + timedelta(minutes=1))
    late = classify(respond(404), delivery(), SETTINGS, T0 + timedelta(minutes=11))
    assert (soon.kind, soon.reason) == (OutcomeKind.RETRY, "not_found_indexing")
    assert (late.kind, late.reason) == (OutcomeKind.PERMANENT, "not_found")


def test_retry_after_is_read_in_seconds() -> None:
    outcome = classify(respond(429, {"retry-after": "12"}), delivery(), SETTINGS, T0)
    assert outcome.retry_after == 12.0


def test_excerpt_is_bounded() -> None:
    # Bounded here, redacted and cut shorter by the pipeline before it reaches the DLQ.
    outcome = classify(respond(400, body=b"x" * 5000), delivery(), SETTINGS, T0)
    assert outcome.excerpt is not None
    assert len(outcome.excerpt) <= 1000
