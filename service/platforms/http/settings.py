"""The ``http:`` block of a tenant: a vendor endpoint described in the tenants file.

Everything a built-in platform hard-codes is a setting here: the method, where the call goes
(``base_url`` fixes the scheme and host, ``path`` is a template for the rest), the headers, the
body's shape, the authentication, the write window and the outcome table. Templates are parsed
while the file loads, so ``enricher check-config`` reports a bad placeholder at its line and
column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote_plus, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.durations import Duration
from service.platforms.base import WriteWindow
from service.platforms.http.template import (
    Template,
    TemplateProblem,
    parse_template,
    parse_url_template,
)
from service.platforms.spec import PlatformSettings
from service.tenant_fields import FieldMapping, StrictModel, basic_credential

__all__ = [
    "AuthSettings",
    "BasicAuthSettings",
    "BearerAuthSettings",
    "BodySettings",
    "ClientCredentialsSettings",
    "HttpSettings",
    "NoAuthSettings",
    "OutcomeRule",
    "StatusRange",
]


def _template_error(problem: TemplateProblem) -> PydanticCustomError:
    """A validation error that says where in the string the mistake is, so the tenants loader
    can point at its column rather than at the start of the value."""
    return PydanticCustomError(
        "template", "{message}", {"message": str(problem), "offset": problem.offset}
    )


def _url_template(value: str) -> str:
    try:
        parse_url_template(value)
    except TemplateProblem as problem:
        raise _template_error(problem) from None
    return value


def _text_template(value: str) -> str:
    try:
        parse_template(value)
    except TemplateProblem as problem:
        raise _template_error(problem) from None
    return value


UrlTemplate = Annotated[str, AfterValidator(_url_template)]
TextTemplate = Annotated[str, AfterValidator(_text_template)]


class _Matching(AfterValidator):
    """A pattern whose refusal says what is expected in words, not as the pattern. Its
    ``pattern`` is kept for the generated reference, which names a URL setting by it."""

    def __init__(self, pattern: str, meaning: str) -> None:
        compiled = re.compile(pattern)

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise ValueError(f"{value!r} is not {meaning}")
            return value

        super().__init__(check)
        object.__setattr__(self, "pattern", pattern)


BaseUrl = Annotated[
    str,
    _Matching(
        r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?"
        r"(?:/[A-Za-z0-9._~/-]*)?",
        "http(s)://host[:port][/fixed/prefix]: no placeholders, query, fragment or user info "
        "(placeholders belong in path)",
    ),
]
"""Scheme, host, optional port and optional fixed path; no user info, query or fragment."""

HeaderName = Annotated[
    str,
    _Matching(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", "a header name (letters, digits, - and _)"),
]
HeaderValue = Annotated[
    str,
    StringConstraints(max_length=4096),
    _Matching(r"[^\r\n\x00]*", "a header value on one line"),
]
Reason = Annotated[
    str,
    _Matching(
        r"[a-z][a-z0-9_]{0,63}",
        "a reason: lower-case snake_case, starting with a letter, at most 64 characters "
        "(it becomes a metric label and the dead letter's enricher.reason)",
    ),
]
_SET_BY_THE_ENRICHER = frozenset(
    {"authorization", "content-type", "content-length", "host", "idempotency-key"}
)


class NoAuthSettings(StrictModel):
    """No credentials: the endpoint trusts the network, or a header in ``secret_headers``."""

    type: Literal["none"]
    """``none``."""


class BasicAuthSettings(StrictModel):
    type: Literal["basic"]
    """``basic``: ``Authorization: Basic`` with a user and password."""
    username: Annotated[str, StringConstraints(min_length=1)]
    """The API user."""
    password: SecretStr
    """The API user's password; a reference, never a literal."""


class BearerAuthSettings(StrictModel):
    type: Literal["bearer"]
    """``bearer``: ``Authorization: Bearer`` with a long-lived token."""
    token: SecretStr
    """The token; a reference, never a literal."""


class ClientCredentialsSettings(StrictModel):
    type: Literal["client_credentials"]
    """``client_credentials``: an OAuth2 access token (RFC 6749 section 4.4), renewed before it
    expires and once when the endpoint answers 401."""
    token_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/?#@]+(/[^\s#]*)?$")]
    """The token endpoint."""
    client_id: Annotated[str, StringConstraints(min_length=1)]
    """The registered client."""
    client_secret: SecretStr
    """The client's secret; a reference, never a literal."""
    scope: Annotated[str, StringConstraints(min_length=1)] | None = None
    """Space-separated scopes to ask for; none by default."""
    client_auth: Literal["basic", "body"] = "basic"
    """How the client authenticates at the token endpoint: a Basic header (``basic``, what
    RFC 6749 asks servers to support) or ``client_id``/``client_secret`` form fields."""


AuthSettings = Annotated[
    NoAuthSettings | BasicAuthSettings | BearerAuthSettings | ClientCredentialsSettings,
    Field(discriminator="type"),
]


class BodySettings(StrictModel):
    """Where the mapped fields go in the JSON body."""

    shape: Literal["object", "pairs"] = "object"
    """``object``: ``{"Sentiment": "negative", ...}``; ``pairs``: ``[{"name": "Sentiment",
    "value": "negative"}, ...]``."""
    under: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    """Put the fields under this key of an object body (``{"attachedData": {...}}``); without
    it they are the body itself."""
    name_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "name"
    """``pairs`` only: the key that holds a field's name."""
    value_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] = "value"
    """``pairs`` only: the key that holds a field's value."""
    members: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], TextTemplate] = (
        Field(default_factory=dict)
    )
    """More members of the body object, beside the fields; values are templates
    (``{id: "{ref.contact_id}"}``), sent as strings."""

    @model_validator(mode="after")
    def _consistent(self) -> BodySettings:
        if self.shape == "pairs" and self.under is None and self.members:
            raise ValueError("members need an object body: set under for a pairs body")
        if self.under is not None and self.under in self.members:
            raise ValueError(f"members.{self.under} would overwrite the fields under {self.under}")
        if self.shape == "pairs" and self.name_key == self.value_key:
            raise ValueError("name_key and value_key must differ")
        return self


class StatusRange(BaseModel):
    """HTTP statuses from ``low`` to ``high``, both included."""

    model_config = ConfigDict(frozen=True)

    low: int
    high: int

    def __contains__(self, status: int) -> bool:
        return self.low <= status <= self.high


_STATUS = re.compile(r"^(?:(\d{3})|([1-5])xx|(\d{3})-(\d{3}))$")


def _status_range(value: Any) -> StatusRange:
    if isinstance(value, StatusRange):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("status is a code (404), a class (4xx) or a range (500-503)")
    match = _STATUS.match(str(value).strip().lower())
    if match is None:
        raise ValueError(f"{value!r} is not a status code (404), class (4xx) or range (500-503)")
    one, klass, low, high = match.groups()
    if one is not None:
        bounds = (int(one), int(one))
    elif klass is not None:
        bounds = (int(klass) * 100, int(klass) * 100 + 99)
    else:
        bounds = (int(low), int(high))
    if not (100 <= bounds[0] <= bounds[1] <= 599):
        raise ValueError(f"{value!r} is not within 100-599, low to high")
    return StatusRange(low=bounds[0], high=bounds[1])


class OutcomeRule(StrictModel):
    """One row of the outcome table; the first row whose status matches decides."""

    status: StatusRange
    """A code (``404``), a class (``4xx``) or a range (``500-503``)."""
    outcome: Literal["delivered", "retry", "permanent"]
    """``delivered``; ``retry`` (again later, honouring ``Retry-After``); ``permanent`` (to
    the dead-letter topic with ``reason``)."""
    reason: Reason | None = None
    """The reason in metrics and dead letters (snake_case); ``http_<status>`` when left out."""
    until_after_close: Duration | None = None
    """``retry`` only: the row applies only this long after the interaction closed (a vendor
    that indexes a contact a while after its close answers 404 until then); later, or with no
    close yet, the next matching row decides."""

    @field_validator("status", mode="before")
    @classmethod
    def _parse_status(cls, value: Any) -> StatusRange:
        return _status_range(value)

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeRule:
        if self.until_after_close is not None and self.outcome != "retry":
            raise ValueError("until_after_close only applies to outcome: retry")
        if self.until_after_close is not None and self.until_after_close <= timedelta(0):
            raise ValueError("until_after_close must be longer than zero")
        return self


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class HttpSettings(PlatformSettings):
    """A vendor endpoint described in the tenants file: ``platform: http``."""

    base_url: BaseUrl
    """Scheme, host and port of every call, and an optional fixed path prefix
    (``https://crm.example.com/api``). No template can change them."""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    """The HTTP method of a write."""
    path: UrlTemplate
    """Path and query after ``base_url``, with placeholders for the interaction's ids
    (``/contacts/{ref.contact_id}/fields?source=enricher``); each value is percent-encoded."""
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    """Fixed headers sent with every write. ``Authorization``, ``Content-Type``, ``Host`` and
    ``Idempotency-Key`` are set by the enricher."""
    secret_headers: dict[HeaderName, SecretStr] = Field(default_factory=dict)
    """Headers whose values are secrets (an API key); references, never literals, and
    scrubbed from logs and dead letters."""
    body: BodySettings = BodySettings()
    """Where the mapped fields go in the JSON body."""
    auth: AuthSettings
    """``{type: none}``, ``{type: basic, ...}``, ``{type: bearer, ...}`` or
    ``{type: client_credentials, ...}``."""
    window: WriteWindow = "after_close"
    """``after_close``: analytics that arrive first wait for the close; ``live``: every
    change is written as soon as the interaction's ids are known."""
    allow_plain_http: bool = False
    """Let credentials (``auth``, ``secret_headers``) travel over ``http://`` to a host other
    than this machine, for an endpoint inside a network you trust; without it such a file is
    refused."""
    outcomes: list[OutcomeRule] = Field(default_factory=list)
    """Rows tried in order before the defaults: 2xx delivered; 401 ``auth_failed`` and 403
    ``permission_denied`` (permanent); 408, 425, 429 and 5xx retried; 400 ``rejected`` and any
    other status ``http_<status>`` (permanent)."""

    FIELD_FLAGS: ClassVar[frozenset[str]] = frozenset({"privacy"})
    """``privacy`` keeps a value out of logs and dead letters whatever the endpoint."""
    SECRETS: ClassVar[tuple[str, ...]] = (
        "auth.password",
        "auth.token",
        "auth.client_secret",
        "secret_headers.*",
    )
    """Settings that must be references, never literals in the file (``*``: every key)."""

    @field_validator("headers", "secret_headers")
    @classmethod
    def _not_set_by_the_enricher(cls, headers: dict[str, Any]) -> dict[str, Any]:
        for name in headers:
            if name.lower() in _SET_BY_THE_ENRICHER:
                hint = "; use auth" if name.lower() == "authorization" else ""
                raise ValueError(f"{name} is set by the enricher{hint}")
        return headers

    @model_validator(mode="after")
    def _no_header_twice(self) -> HttpSettings:
        both = {n.lower() for n in self.headers} & {n.lower() for n in self.secret_headers}
        if both:
            raise ValueError(f"{', '.join(sorted(both))} in both headers and secret_headers")
        return self

    @model_validator(mode="after")
    def _no_credentials_in_clear(self) -> HttpSettings:
        sends_secrets = not isinstance(self.auth, NoAuthSettings) or bool(self.secret_headers)
        if not sends_secrets or self.allow_plain_http:
            return self
        urls = [("base_url", self.base_url)]
        if isinstance(self.auth, ClientCredentialsSettings):
            urls.append(("auth.token_url", self.auth.token_url))
        for name, url in urls:
            parts = urlsplit(url)
            if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
                raise ValueError(
                    f"{name} is http:// to another host, so the credentials would cross the "
                    "network in clear; use https://, or set allow_plain_http: true for an "
                    "endpoint inside a network you trust"
                )
        return self

    def url_template(self) -> Template:
        return parse_url_template(self.path)

    def member_templates(self) -> dict[str, Template]:
        return {name: parse_template(text) for name, text in self.body.members.items()}

    def write_window(self) -> WriteWindow:
        return self.window

    def field_problems(self, fields: Mapping[str, FieldMapping]) -> list[str]:
        """Besides the flags no platform of this kind gives a meaning, field names that would
        collide with a body member."""
        problems = super().field_problems(fields)
        if self.body.shape == "object" and self.body.under is None:
            problems += [
                f"fields.{name}: also a body member; rename one, or put the fields under a key"
                for name in fields
                if name in self.body.members
            ]
        return problems

    def secret_values(self) -> list[str]:
        """Every secret as it may travel on the wire, for log and dead-letter redaction."""
        values = [secret.get_secret_value() for secret in self.secret_headers.values()]
        auth = self.auth
        if isinstance(auth, BasicAuthSettings):
            values += [
                auth.password.get_secret_value(),
                basic_credential(auth.username, auth.password),
            ]
        elif isinstance(auth, BearerAuthSettings):
            values.append(auth.token.get_secret_value())
        elif isinstance(auth, ClientCredentialsSettings):
            secret = auth.client_secret.get_secret_value()
            # The token request's Basic header form-encodes both parts first (RFC 6749 2.3.1).
            encoded = SecretStr(quote_plus(secret))
            values += [
                secret,
                quote_plus(secret),
                basic_credential(quote_plus(auth.client_id), encoded),
            ]
        return values
