"""The GWS request builder, session parsing and outcome table, without any IO."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from pydantic import SecretStr

from service.auth.session import merge_cookies, parse_set_cookie, session_from
from service.events import Scalar
from service.platforms.base import Delivery
from service.platforms.genesys_gws.adapter import session_login
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.wire import (
    PERMANENT_CODES,
    build_request,
    classify,
    is_session_refusal,
    login_failure,
    status_code_of,
    wire_value,
)
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse
from tests.unit.auth_support import drive
from tests.unit.factories import T0

SETTINGS = GenesysGwsSettings(
    base_url="https://gws.example:8443/", username="agent1", password=SecretStr("pw:1")
)
SESSION = HttpResponse(
    200, {"x-csrf-token": "tok"}, b'{"statusCode":0}', ("JSESSIONID=S1", "GWSLB=n1")
)
"""The answer that opened the session: its cookies and CSRF token."""


def sent(request: HttpRequest | Outcome, opened: HttpResponse = SESSION) -> HttpRequest:
    """``request`` as it leaves through a session that ``opened`` opened."""
    assert isinstance(request, HttpRequest)
    login = session_login(SETTINGS, lambda: T0)
    drive(login.renew(0.0), [opened])
    return login.apply(request)


def delivery(
    ref: dict[str, str] | None = None, values: dict[str, Scalar] | None = None
) -> Delivery:
    return Delivery(
        "acme",
        "chat-1",
        3,
        ref if ref is not None else {"media": "chats", "session_id": "00 7/a#b"},
        "chat",
        None,
        None,
        values if values is not None else {"Sentiment": "neg", "Vip": True, "Case": 4711},
    )


def respond(
    status: int, body: object = None, headers: dict[str, str] | None = None, raw: bytes = b""
) -> HttpResponse:
    content = raw if body is None else orjson.dumps(body)
    return HttpResponse(status, headers or {}, content)


# --- request -----------------------------------------------------------------------------------


def test_update_user_data_post_carries_session_csrf_and_idempotency_key() -> None:
    request = sent(build_request(SETTINGS, delivery()))

    assert request.method == "POST"
    assert request.url == "https://gws.example:8443/api/v2/me/chats/00%207%2Fa%23b"
    assert request.headers["Authorization"] == "Basic YWdlbnQxOnB3OjE="  # agent1:pw:1
    assert request.headers["Cookie"] == "JSESSIONID=S1; GWSLB=n1"
    assert request.headers["X-CSRF-TOKEN"] == "tok"
    assert request.headers["Idempotency-Key"] == "acme:chat-1:3"
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.body or b"") == {
        "operationName": "UpdateUserData",
        "userData": {"Sentiment": "neg", "Vip": "true", "Case": 4711},
    }


def test_without_csrf_or_cookies_the_headers_are_left_out() -> None:
    opened = HttpResponse(200, {}, b'{"statusCode":0}')
    request = sent(build_request(SETTINGS, delivery()), opened)

    assert "Cookie" not in request.headers
    assert not any("csrf" in name.lower() for name in request.headers)


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ({}, "missing_routing"),
        ({"media": "calls"}, "missing_routing"),
        ({"session_id": "1"}, "missing_routing"),
        ({"media": "", "session_id": "1"}, "missing_routing"),
        ({"media": "emails", "session_id": "1"}, "channel_not_supported"),
    ],
)
def test_unroutable_deliveries_are_permanent(ref: dict[str, str], reason: str) -> None:
    outcome = build_request(SETTINGS, delivery(ref))

    assert isinstance(outcome, Outcome)
    assert (outcome.kind, outcome.reason, outcome.error_class) == (
        OutcomeKind.PERMANENT,
        reason,
        "RoutingError",
    )


def test_nothing_left_to_write_is_delivered_without_a_call() -> None:
    outcome = build_request(SETTINGS, delivery(values={"A": None}))

    assert outcome == Outcome.delivered(0)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("text", "text"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (0, 0),
        (-(2**31), -(2**31)),
        (2**31 - 1, 2**31 - 1),
        (2**31, "2147483648"),
        (-(2**31) - 1, "-2147483649"),
        (-0.62, "-0.62"),
        (3.0, 3),
        (1e20, "100000000000000000000"),
        (None, None),
    ],
)
def test_wire_values_are_strings_and_32_bit_integers(value: Scalar, wire: str | int | None) -> None:
    converted = wire_value(value)

    assert converted == wire
    assert type(converted) is type(wire)


# --- cookies and sessions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("JSESSIONID=ABC123; Path=/; HttpOnly", ("JSESSIONID", "ABC123")),
        ('LB="node-1"; Max-Age=3600; Path=/', ("LB", "node-1")),
        ("JSESSIONID=; Max-Age=0; Path=/", ("JSESSIONID", None)),
        ("LB=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", ("LB", None)),
        ("LB=x; Expires=Fri, 01 Jan 2100 00:00:00 GMT", ("LB", "x")),
        ("LB=x; Expires=garbage", ("LB", "x")),
        ("no-equals-sign", None),
        ("=value", None),
    ],
)
def test_set_cookie_parsing(header: str, parsed: tuple[str, str | None] | None) -> None:
    assert parse_set_cookie(header, T0) == parsed


def test_cookies_merge_replace_and_delete() -> None:
    jar = {"JSESSIONID": "old", "LB": "n1"}

    merged = merge_cookies(jar, ["JSESSIONID=new; Path=/", "LB=; Max-Age=0", "X=1"], T0)

    assert merged == {"JSESSIONID": "new", "X": "1"}
    assert jar == {"JSESSIONID": "old", "LB": "n1"}


def test_session_from_a_get_reads_cookies_and_the_named_csrf_header() -> None:
    response = HttpResponse(
        200,
        {"x-csrf-header": "X-GWS-CSRF", "x-csrf-token": "t-1"},
        b'{"statusCode":0}',
        ("JSESSIONID=S9; Path=/; HttpOnly", "GWSLB=n2; Path=/"),
    )

    session = session_from(response, T0)

    assert session.cookies == {"JSESSIONID": "S9", "GWSLB": "n2"}
    assert session.csrf == ("X-GWS-CSRF", "t-1")


@pytest.mark.parametrize(
    ("headers", "csrf"),
    [
        ({}, None),
        ({"x-csrf-header": "X-CSRF-TOKEN"}, None),
        ({"x-csrf-token": "t"}, ("X-CSRF-TOKEN", "t")),
        ({"x-csrf-header": "bad name\r\n", "x-csrf-token": "t"}, ("X-CSRF-TOKEN", "t")),
    ],
)
def test_csrf_defaults_when_the_server_says_less(
    headers: dict[str, str], csrf: tuple[str, str] | None
) -> None:
    assert session_from(HttpResponse(200, headers, b"{}"), T0).csrf == csrf


# --- outcome table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b'{"statusCode":0}', (0, None)),
        (b'{"statusCode":2,"statusMessage":"Released"}', (2, "Released")),
        (b'{"statusCode":"2"}', (None, None)),
        (b'{"statusCode":true}', (None, None)),
        (b'["statusCode"]', (None, None)),
        (b"Missing or invalid Csrf token", (None, None)),
        (b"", (None, None)),
    ],
)
def test_status_code_is_read_only_from_a_gws_body(
    body: bytes, parsed: tuple[int | None, str | None]
) -> None:
    assert status_code_of(body) == parsed


@pytest.mark.parametrize(("http_status"), [200, 400, 404, 500])
@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (4, OutcomeKind.RETRY, "gws_internal_error"),
        (9, OutcomeKind.RETRY, "gws_processing_incomplete"),
        (1, OutcomeKind.PERMANENT, "missing_parameter"),
        (2, OutcomeKind.PERMANENT, "write_window_closed"),
        (3, OutcomeKind.PERMANENT, "forbidden"),
        (5, OutcomeKind.PERMANENT, "permission_denied"),
        (6, OutcomeKind.PERMANENT, "not_found"),
        (7, OutcomeKind.PERMANENT, "partial_success"),
        (8, OutcomeKind.PERMANENT, "password_change_required"),
        (10, OutcomeKind.PERMANENT, "value_out_of_range"),
        (11, OutcomeKind.PERMANENT, "read_only_property"),
        (12, OutcomeKind.PERMANENT, "unable_to_retrieve"),
        (13, OutcomeKind.PERMANENT, "unable_to_create"),
        (14, OutcomeKind.PERMANENT, "unable_to_delete"),
        (15, OutcomeKind.PERMANENT, "unable_to_update"),
        (16, OutcomeKind.PERMANENT, "unable_to_assign"),
        (17, OutcomeKind.PERMANENT, "unable_to_unassign"),
        (18, OutcomeKind.PERMANENT, "already_exists"),
        (19, OutcomeKind.PERMANENT, "in_use"),
        (20, OutcomeKind.PERMANENT, "auth_failed"),
        (42, OutcomeKind.PERMANENT, "gws_status_42"),
    ],
)
def test_status_code_decides_whatever_the_http_status(
    http_status: int, code: int, kind: OutcomeKind, reason: str
) -> None:
    outcome = classify(respond(http_status, {"statusCode": code, "statusMessage": "m"}), T0)

    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, http_status)
    assert outcome.excerpt is not None
    assert "statusCode" in outcome.excerpt


def test_every_documented_non_zero_code_has_a_named_outcome() -> None:
    assert set(PERMANENT_CODES) | {4, 9} == set(range(1, 21))


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (20, "AuthError"),
        (8, "AuthError"),
        (5, "AuthError"),
        (2, "VendorRejected"),
        (4, "VendorUnavailable"),
    ],
)
def test_error_classes(code: int, error_class: str) -> None:
    assert classify(respond(400, {"statusCode": code}), T0).error_class == error_class


def test_success_needs_status_code_0_under_a_2xx() -> None:
    assert classify(respond(200, {"statusCode": 0}), T0) == Outcome.delivered(200)
    contradiction = classify(respond(503, {"statusCode": 0}), T0)
    assert (contradiction.kind, contradiction.reason) == (OutcomeKind.RETRY, "http_503")


@pytest.mark.parametrize(
    ("status", "raw", "kind", "reason"),
    [
        (200, b"<html>login</html>", OutcomeKind.RETRY, "unreadable_answer"),
        (204, b"", OutcomeKind.RETRY, "unreadable_answer"),
        (401, b"", OutcomeKind.PERMANENT, "auth_failed"),
        (403, b"Missing or invalid Csrf token", OutcomeKind.PERMANENT, "auth_failed"),
        (404, b"<html>Not Found</html>", OutcomeKind.PERMANENT, "endpoint_not_found"),
        (400, b"bad", OutcomeKind.PERMANENT, "http_400"),
        (408, b"", OutcomeKind.RETRY, "http_408"),
        (429, b"", OutcomeKind.RETRY, "http_429"),
        (502, b"<html>bad gateway</html>", OutcomeKind.RETRY, "http_502"),
    ],
)
def test_answers_without_a_gws_body_fall_back_to_http(
    status: int, raw: bytes, kind: OutcomeKind, reason: str
) -> None:
    outcome = classify(respond(status, raw=raw), T0)

    assert (outcome.kind, outcome.reason, outcome.status) == (kind, reason, status)


def test_retry_after_is_kept_for_transient_answers() -> None:
    throttled = classify(respond(429, headers={"retry-after": "12"}), T0)
    busy = classify(respond(500, {"statusCode": 9}, {"retry-after": "5"}), T0)

    assert throttled.retry_after == 12.0
    assert busy.retry_after == 5.0


@pytest.mark.parametrize(
    ("response", "refused"),
    [
        (respond(403, raw=b"Missing or invalid Csrf token"), True),
        (respond(403, raw=b""), True),
        (respond(401, {"statusCode": 20}), True),
        (respond(200, {"statusCode": 20}), True),
        (respond(401, raw=b""), True),
        (respond(403, {"statusCode": 3}), False),
        (respond(400, {"statusCode": 2}), False),
        (respond(500, raw=b""), False),
        (respond(200, {"statusCode": 0}), False),
    ],
)
def test_session_refusals_are_csrf_rejections_and_status_code_20(
    response: HttpResponse, refused: bool
) -> None:
    assert is_session_refusal(response) is refused


def test_excerpt_is_bounded() -> None:
    outcome = classify(respond(400, {"statusCode": 1, "statusMessage": "x" * 5000}), T0)

    assert outcome.excerpt is not None
    assert len(outcome.excerpt) <= 1000


def test_expired_cookie_dates_compare_against_the_given_clock() -> None:
    header = "LB=x; Expires=Fri, 20 Nov 2026 10:16:00 GMT"

    assert parse_set_cookie(header, T0) == ("LB", "x")
    assert parse_set_cookie(header, T0 + timedelta(minutes=2)) == ("LB", None)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (respond(200, {"statusCode": 0}), None),
        (respond(401, raw=b"Unauthorized"), (OutcomeKind.PERMANENT, "auth_failed")),
        (respond(200, {"statusCode": 8}), (OutcomeKind.PERMANENT, "password_change_required")),
        (respond(503, raw=b"down"), (OutcomeKind.RETRY, "http_503")),
        (respond(200, {"statusCode": 4}), (OutcomeKind.RETRY, "gws_internal_error")),
    ],
)
def test_a_session_login_is_judged_by_the_same_table_as_a_write(
    response: HttpResponse, expected: tuple[OutcomeKind, str] | None
) -> None:
    outcome = login_failure(response, T0)
    assert (None if outcome is None else (outcome.kind, outcome.reason)) == expected
