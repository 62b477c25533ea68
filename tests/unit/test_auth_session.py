"""A session with cookies and a CSRF token, driven with canned answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.auth import AuthError, BasicAuth, SessionCookie
from service.auth.session import merge_cookies, parse_set_cookie
from service.platforms.outcomes import Outcome, OutcomeKind
from service.transport import HttpRequest, HttpResponse
from tests.unit.auth_support import answer, drive

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LOGIN = "https://gws.example/api/v2/me"
WRITE = HttpRequest("POST", "https://gws.example/api/v2/me/calls/c1", {}, b"{}")
OPENED = answer(
    200,
    {"statusCode": 0},
    {"x-csrf-header": "X-Custom-Csrf", "x-csrf-token": "tok-1"},
    ("JSESSIONID=S1; Path=/; HttpOnly", "GWSLB=n1"),
)


def session(**options: Any) -> SessionCookie:
    return SessionCookie(LOGIN, BasicAuth("agent", "pw"), wall_clock=lambda: T0, **options)


def test_a_login_opens_the_session_and_later_writes_carry_cookies_and_csrf() -> None:
    flow = session()
    assert flow.stale(0.0)
    [login] = drive(flow.renew(0.0), [OPENED])
    assert (login.method, login.url) == ("GET", LOGIN)
    assert login.headers["Authorization"].startswith("Basic ")
    assert "Cookie" not in login.headers
    assert not flow.stale(0.0)
    write = flow.apply(WRITE).headers
    assert write["Cookie"] == "JSESSIONID=S1; GWSLB=n1"
    assert write["X-Custom-Csrf"] == "tok-1"
    assert write["Authorization"] == login.headers["Authorization"]  # Basic on every request
    assert "X-Custom-Csrf" not in flow.apply(HttpRequest("GET", LOGIN)).headers


def test_without_a_csrf_token_writes_go_without_the_header() -> None:
    flow = session()
    drive(flow.renew(0.0), [answer(200, {}, {}, ("JSESSIONID=S1",))])
    assert set(flow.apply(WRITE).headers) == {"Authorization", "Cookie"}


def test_every_answer_on_the_session_refreshes_its_cookies() -> None:
    flow = session()
    drive(flow.renew(0.0), [OPENED])
    flow.observe(answer(200, {}, {}, ("GWSLB=n2", "JSESSIONID=; Max-Age=0")))
    assert flow.apply(WRITE).headers["Cookie"] == "GWSLB=n2"


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (401, OutcomeKind.PERMANENT, "auth_failed"),
        (403, OutcomeKind.PERMANENT, "auth_failed"),
        (503, OutcomeKind.RETRY, "http_503"),
    ],
)
def test_a_refused_login_opens_nothing(status: int, kind: OutcomeKind, reason: str) -> None:
    flow = session(secrets=("pw",))
    with pytest.raises(AuthError) as raised:
        drive(flow.renew(0.0), [answer(status, b"user agent / pw refused")])
    assert (raised.value.outcome.kind, raised.value.outcome.reason) == (kind, reason)
    assert "pw" not in (raised.value.outcome.excerpt or "").replace("***", "")
    assert flow.stale(0.0)


def test_the_platform_decides_what_a_login_answer_and_a_refusal_mean() -> None:
    def gws_failure(response: HttpResponse) -> AuthError | None:
        if b'"statusCode":20' in response.body:
            return AuthError(Outcome(OutcomeKind.PERMANENT, "auth_failed", status=200))
        return None

    flow = session(login_failure=gws_failure, refused=lambda r: r.status == 418)
    with pytest.raises(AuthError):
        drive(flow.renew(0.0), [answer(200, {"statusCode": 20})])
    assert flow.stale(0.0)
    assert flow.rejected(answer(418))
    assert not flow.rejected(answer(401))


def test_set_cookie_parsing_and_merging() -> None:
    assert parse_set_cookie('A="1"; Path=/', T0) == ("A", "1")
    assert parse_set_cookie("A=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", T0) == ("A", None)
    assert parse_set_cookie("no-equals-sign", T0) is None
    assert merge_cookies({"A": "1", "B": "2"}, ["B=; Max-Age=0", "C=3"], T0) == {"A": "1", "C": "3"}


def test_repr_shows_no_cookie_value_or_password() -> None:
    flow = session()
    drive(flow.renew(0.0), [OPENED])
    assert "S1" not in repr(flow.session)
    assert "tok-1" not in repr(flow.session)
    assert "pw" not in repr(flow)
