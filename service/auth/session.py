"""A server-side session: a login request opens it, its cookies and CSRF token go back on
every later request (a Java servlet session behind a load balancer is the model).

The login answer's ``Set-Cookie`` headers make the cookie jar; ``X-CSRF-TOKEN`` holds a CSRF
token and ``X-CSRF-HEADER`` names the header to return it in (``X-CSRF-TOKEN`` when unnamed).
Without a token, protection is off and writes go without one. Every later answer's cookies
update the jar, because load balancers refresh stickiness cookies on any answer. The shared
transport keeps no cookie jar, so each session keeps its own.

What counts as a successful login and as a refused session differs by platform, so both are
functions given to the flow; the defaults read plain HTTP statuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from service.auth.flow import AuthError, Credential, Renewal, excerpt_without, failure, with_headers
from service.auth.static import StaticCredential
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "DEFAULT_CSRF_HEADER",
    "Session",
    "SessionCookie",
    "cookie_header",
    "merge_cookies",
    "parse_set_cookie",
    "session_from",
]

DEFAULT_CSRF_HEADER = "X-CSRF-TOKEN"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Session:
    """The cookies to send back and the CSRF header, if the server protects writes."""

    cookies: dict[str, str] = field(default_factory=dict)
    csrf: tuple[str, str] | None = None
    """(header name, token); None when the server announced no CSRF protection."""

    def __repr__(self) -> str:
        return f"Session(cookies={sorted(self.cookies)}, csrf={self.csrf is not None})"


def parse_set_cookie(header: str, now: datetime) -> tuple[str, str | None] | None:
    """``(name, value)`` from one Set-Cookie header, value None when the server deletes the
    cookie (``Max-Age<=0`` or an ``Expires`` in the past); None when the header is unusable.
    Path and Domain are ignored: a session talks to one origin and sends it everything."""
    pair, *attributes = header.split(";")
    name, equals, value = pair.partition("=")
    name, value = name.strip(), value.strip().strip('"')
    if not equals or not name:
        return None
    for attribute in attributes:
        key, _, argument = attribute.partition("=")
        key, argument = key.strip().lower(), argument.strip()
        if key == "max-age" and argument.lstrip("-").isdigit() and int(argument) <= 0:
            return name, None
        if key == "expires" and _expired(argument, now):
            return name, None
    return name, value


def _expired(text: str, now: datetime) -> bool:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= now


def merge_cookies(
    jar: Mapping[str, str], set_cookies: Iterable[str], now: datetime
) -> dict[str, str]:
    merged = dict(jar)
    for header in set_cookies:
        parsed = parse_set_cookie(header, now)
        if parsed is None:
            continue
        name, value = parsed
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def session_from(response: HttpResponse, now: datetime) -> Session:
    """The session a successful login opened: its cookies and CSRF token, if any."""
    token = response.headers.get("x-csrf-token")
    name = (response.headers.get("x-csrf-header") or DEFAULT_CSRF_HEADER).strip()
    if not _HEADER_NAME.match(name):
        name = DEFAULT_CSRF_HEADER
    csrf = (name, token.strip()) if token and token.strip() else None
    return Session(merge_cookies({}, response.set_cookies, now), csrf)


def _plain_login_failure(response: HttpResponse, secrets: Iterable[str]) -> AuthError | None:
    """A login refused by HTTP status: 5xx and 429 are outages, other non-2xx refusals."""
    if 200 <= response.status < 300:
        return None
    detail = excerpt_without(response.body, secrets)
    if response.status >= 500 or response.status == 429:
        return failure(
            OutcomeKind.RETRY,
            f"http_{response.status}",
            status=response.status,
            detail=detail,
            error_class="VendorUnavailable",
        )
    return failure(OutcomeKind.PERMANENT, "auth_failed", status=response.status, detail=detail)


def _plain_refusal(response: HttpResponse) -> bool:
    return response.status in (401, 403)


class SessionCookie(Credential):
    """``SessionCookie(login_url, BasicAuth(user, password))``: a session opened with a GET to
    ``login_url`` carrying ``credential``, which also travels on every later request.

    ``login_failure`` turns a login answer into the :class:`AuthError` it means, or None when
    the session is open; ``refused`` says whether an answer refuses the session (expired,
    rotated CSRF token, restarted node) so that one new session may help."""

    def __init__(
        self,
        login_url: str,
        credential: StaticCredential,
        *,
        login_failure: Callable[[HttpResponse], AuthError | None] | None = None,
        refused: Callable[[HttpResponse], bool] = _plain_refusal,
        secrets: Iterable[str] = (),
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._login_url = login_url
        self._credential = credential
        self._secrets = tuple(secrets)
        self._login_failure = login_failure or (
            lambda response: _plain_login_failure(response, self._secrets)
        )
        self._refused = refused
        self._wall_clock = wall_clock
        self._session: Session | None = None

    @property
    def session(self) -> Session | None:
        return self._session

    def stale(self, now: float) -> bool:
        return self._session is None

    def login_request(self) -> HttpRequest:
        return self._credential.apply(
            HttpRequest("GET", self._login_url, {"Accept": "application/json"})
        )

    def renew(self, now: float) -> Renewal:
        response = yield self.login_request()
        refusal = self._login_failure(response)
        if refusal is not None:
            raise refusal
        self._session = session_from(response, self._wall_clock())

    def apply(self, request: HttpRequest) -> HttpRequest:
        request = self._credential.apply(request)
        session = self._session
        if session is None:
            return request
        headers: dict[str, str] = {}
        if session.cookies:
            headers["Cookie"] = cookie_header(session.cookies)
        if session.csrf is not None and request.method.upper() not in _SAFE_METHODS:
            name, token = session.csrf
            headers[name] = token
        return with_headers(request, headers) if headers else request

    def rejected(self, response: HttpResponse) -> bool:
        return self._refused(response)

    def observe(self, response: HttpResponse) -> None:
        session = self._session
        if response.set_cookies and session is not None:
            session.cookies = merge_cookies(
                session.cookies, response.set_cookies, self._wall_clock()
            )

    def __repr__(self) -> str:
        return f"SessionCookie({self._login_url!r})"
