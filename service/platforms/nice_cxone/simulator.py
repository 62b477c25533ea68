"""NICE CXone Business Data API simulator.

A local double that enforces what the enricher's NICE client has to get right against the real
platform: discovery instead of hard-coded hosts, the OAuth2 password grant, bearer-token expiry,
the single-key-object body, tenant-scoped contacts, and the "closed and indexed" write window.
Rules NICE leaves undocumented are settings (``NiceSimConfig``), not hard-wired.

Vendor surface (faults and latency apply first; every call is recorded in the request log):

- ``GET /.well-known/openid-configuration`` -> ``issuer`` (this server's base URL as the
  client reached it), ``token_endpoint`` = ``{issuer}/auth/token`` and other OIDC metadata.
- ``GET /.well-known/cxone-configuration?tenantId=T`` -> ``{"api_endpoint", "area",
  "tenantId"}``; 404 when the tenant has no access key here or ``tenantId`` is missing.
- ``POST /auth/token`` (``application/x-www-form-urlencoded``): ``grant_type=password``,
  ``username`` = access key id, ``password`` = access key secret; client by HTTP Basic or by
  ``client_id``/``client_secret`` form fields. 401 ``invalid_client``, 401 ``invalid_grant``,
  400 ``unsupported_grant_type``, 400 ``invalid_request`` (not a form, parameter missing).
  Success: ``access_token`` and ``id_token`` (HS256 JWTs carrying ``tenantId``, ``sub``,
  ``iat``, ``exp``), ``token_type`` ``bearer``, ``expires_in``. With
  ``opaque_access_tokens`` the access token is an opaque string instead (no claims to read),
  and only the ``id_token`` carries ``tenantId``, as public CXone clients find it.
- ``PUT /business-data-manager/v1/business-data/contact/{contact_id}`` (every segment) and
  ``PUT .../contact/{contact_id}/segment/{segment_id}`` (one segment), body
  ``[{"field": value}, ...]`` -> 204. Checked in this order: bearer token (401), *Update
  Business Data* permission (403), one-request-per-window (429 + Retry-After), JSON
  content type (415), body shape (400), field catalogue (400), contact known to the token's
  tenant (404), contact closed (``open_contact_status``), indexing lag (404), segment (404).
  Error bodies are ``{"error", "message"}``; 404s for unknown, other-tenant, lagging and (by
  default) open contacts look identical, as they would to a real client, and the header
  ``X-Sim-Reason`` tells them apart for debugging.

Control surface (no auth, not faulted, not logged):

- ``POST /_sim/contacts`` ``{"contact_id", "tenant_id", "segments" (default: one generated
  id), "state": "closed"|"open" (default closed), "closed_at" (ISO time, default now)}`` ->
  201 with the contact; registering an existing id replaces it.
- ``GET /_sim/contacts`` -> every contact; ``GET /_sim/contacts/{contact_id}`` ->
  ``{"contact_id", "tenant_id", "state", "closed_at", "segments": {segment_id: {field:
  value}}}`` or 404.
- ``POST /_sim/contacts/{contact_id}/close`` -> closes the contact now; the contact or 404.
- ``POST /_sim/tokens/expire`` -> every token issued so far is expired (``{"expired": n}``).
- ``GET /_sim/config`` -> the settings below; ``PATCH /_sim/config`` with any subset of
  ``token_ttl_seconds``, ``reject_unknown_fields``, ``field_catalogue``,
  ``open_contact_status``, ``indexing_lag_seconds``, ``one_request_per_window_seconds``,
  ``auto_create_contacts``, ``require_json_content_type``, ``opaque_access_tokens`` -> the
  updated settings, or 422.
- ``POST /_sim/reset`` -> 204; clears contacts, tokens, rate windows, faults, latency and the
  request log (the configuration stays).
- ``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``: see ``service.simulators.faults``.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import math
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from service.simulators.app import mount_simulator, simulator_app
from service.simulators.faults import (
    Clock,
    FaultInjector,
    RequestLog,
    Sleep,
    add_control_route,
    basic_credentials,
    iso_time,
    media_type,
    mount_config_routes,
    observed_route_class,
    refuse_unpatchable,
)

UPDATE_BUSINESS_DATA = "update_business_data"
DEV_TENANT_ID = "11111111-2222-3333-4444-555555555555"
DEV_CLIENT_ID = "enricher-dev"
DEV_CLIENT_SECRET = "dev-client-secret"  # noqa: S105 - public dev-mode credential
DEV_ACCESS_KEY_ID = "dev-key-id"
DEV_ACCESS_KEY_SECRET = "dev-key-secret"  # noqa: S105 - public dev-mode credential
BUSINESS_DATA_PREFIX = "/business-data-manager/v1/business-data"
TOKEN_PATH = "/auth/token"  # noqa: S105 - a path, not a secret
PATCHABLE_SETTINGS = frozenset(
    {
        "token_ttl_seconds",
        "reject_unknown_fields",
        "field_catalogue",
        "open_contact_status",
        "indexing_lag_seconds",
        "one_request_per_window_seconds",
        "auto_create_contacts",
        "require_json_content_type",
        "opaque_access_tokens",
    }
)

Scalar = str | bool | int | float
ContactState = Literal["closed", "open"]


class AccessKey(BaseModel):
    """An API user's access key; the permissions are the user's, copied into its tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str
    tenant_id: str
    permissions: set[str] = Field(default_factory=lambda: {UPDATE_BUSINESS_DATA})

    @field_serializer("permissions")
    def _sorted_permissions(self, permissions: set[str]) -> list[str]:
        return sorted(permissions)


def _dev_access_keys() -> dict[str, AccessKey]:
    return {DEV_ACCESS_KEY_ID: AccessKey(secret=DEV_ACCESS_KEY_SECRET, tenant_id=DEV_TENANT_ID)}


class NiceSimConfig(BaseModel):
    """Simulator settings; the defaults make a ready-to-use dev-mode tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: dict[str, str] = Field(default_factory=lambda: {DEV_CLIENT_ID: DEV_CLIENT_SECRET})
    access_keys: dict[str, AccessKey] = Field(default_factory=_dev_access_keys)
    area: str = "na1"
    token_ttl_seconds: int = Field(default=3600, gt=0)
    field_catalogue: set[str] | None = None
    reject_unknown_fields: bool = True
    open_contact_status: int = Field(default=404, ge=400, le=599)
    indexing_lag_seconds: float = Field(default=0, ge=0)
    one_request_per_window_seconds: float | None = Field(default=None, gt=0)
    auto_create_contacts: bool = False
    require_json_content_type: bool = True
    opaque_access_tokens: bool = False
    """Issue access tokens that are not JWTs, so a client must read ``tenantId`` from the
    ``id_token``."""

    @field_serializer("field_catalogue")
    def _sorted_catalogue(self, catalogue: set[str] | None) -> list[str] | None:
        return None if catalogue is None else sorted(catalogue)

    def tenant_ids(self) -> set[str]:
        """A tenant exists here when some access key belongs to it."""
        return {key.tenant_id for key in self.access_keys.values()}

    def settings_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(PATCHABLE_SETTINGS))


class ContactRegistration(BaseModel):
    """Body of ``POST /_sim/contacts``; numeric ids are accepted as NICE's examples use them."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    contact_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    segments: list[str] | None = Field(default=None, min_length=1)
    state: ContactState = "closed"
    closed_at: datetime | None = None

    @model_validator(mode="after")
    def _open_contacts_have_no_close_time(self) -> "ContactRegistration":
        if self.state == "open" and self.closed_at is not None:
            raise ValueError("an open contact cannot have closed_at")
        return self


@dataclass
class Contact:
    contact_id: str
    tenant_id: str
    state: ContactState
    closed_at: float | None
    segments: dict[str, dict[str, Scalar]]

    def view(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "tenant_id": self.tenant_id,
            "state": self.state,
            "closed_at": None if self.closed_at is None else iso_time(self.closed_at),
            "segments": {seg: dict(values) for seg, values in self.segments.items()},
        }

    def write(self, fields: list[tuple[str, Scalar]], segment_id: str | None) -> None:
        """Apply in body order, so a repeated name ends with its last value."""
        targets = self.segments.keys() if segment_id is None else [segment_id]
        for target in targets:
            self.segments[target].update(fields)

    def close(self, now: float) -> None:
        self.state = "closed"
        self.closed_at = now


@dataclass(frozen=True)
class Grant:
    """What the server remembers about an access token; nothing is trusted from the JWT."""

    access_key_id: str
    tenant_id: str
    permissions: frozenset[str]
    expires_at: float


@dataclass
class NiceSimState:
    """Everything one simulator instance remembers, kept on ``app.state.sim``."""

    config: NiceSimConfig
    clock: Clock
    faults: FaultInjector
    requests: RequestLog
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    contacts: dict[str, Contact] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    window_opened_at: dict[str, float] = field(default_factory=dict)

    def expire_tokens(self) -> int:
        now = self.clock()
        self.tokens = {
            token: replace(grant, expires_at=min(grant.expires_at, now))
            for token, grant in self.tokens.items()
        }
        return len(self.tokens)

    def reset(self) -> None:
        self.contacts.clear()
        self.tokens.clear()
        self.window_opened_at.clear()
        self.faults.reset()
        self.requests.clear()


class Rejected(Exception):
    """A vendor error response, raised from deep helpers and returned by the route."""

    def __init__(
        self,
        status: int,
        body: dict[str, str],
        *,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if reason is not None:
            self.headers["X-Sim-Reason"] = reason

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def _api_error(
    status: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> Rejected:
    return Rejected(status, {"error": error, "message": message}, headers=headers, reason=reason)


def _oauth_error(status: int, error: str, description: str) -> Rejected:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="cxone"'
    return Rejected(status, {"error": error, "error_description": description}, headers=headers)


def _state(request: Request) -> NiceSimState:
    return cast(NiceSimState, request.app.state.sim)


def _base_url(request: Request) -> str:
    """Derived per request so discovery is right behind any host name or port."""
    return str(request.base_url).rstrip("/")


# --- discovery ---------------------------------------------------------------------------------


async def openid_configuration(request: Request) -> dict[str, Any]:
    base = _base_url(request)
    return {
        "issuer": base,
        "token_endpoint": f"{base}{TOKEN_PATH}",
        "grant_types_supported": ["password"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "scopes_supported": ["openid"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "tenantId", "area", "name"],
    }


async def cxone_configuration(request: Request) -> Response:
    sim = _state(request)
    tenant_id = request.query_params.get("tenantId")
    if not tenant_id or tenant_id not in sim.config.tenant_ids():
        return _api_error(404, "tenant_not_found", f"unknown tenantId {tenant_id!r}").response()
    return JSONResponse(
        {"api_endpoint": _base_url(request), "area": sim.config.area, "tenantId": tenant_id}
    )


# --- token endpoint ----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_jwt(claims: dict[str, Any], key: bytes) -> str:
    """Real JWT framing so clients that decode claims (tenantId) are exercised for real."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


async def _read_form(request: Request) -> dict[str, str]:
    if media_type(request) != "application/x-www-form-urlencoded":
        raise _oauth_error(400, "invalid_request", "body must be application/x-www-form-urlencoded")
    try:
        return dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _oauth_error(400, "invalid_request", "malformed form body") from exc


def _same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _authenticate_client(request: Request, form: dict[str, str], clients: dict[str, str]) -> str:
    """Basic wins over form fields; Basic values may be form-encoded (RFC 6749 2.3.1)."""
    header = request.headers.get("authorization")
    if header is not None:
        given = basic_credentials(header)
        candidates = (
            [] if given is None else [given, (unquote_plus(given[0]), unquote_plus(given[1]))]
        )
    elif "client_id" in form:
        candidates = [(form["client_id"], form.get("client_secret", ""))]
    else:
        candidates = []
    for client_id, client_secret in candidates:
        expected = clients.get(client_id)
        if expected is not None and _same_secret(expected, client_secret):
            return client_id
    raise _oauth_error(401, "invalid_client", "client authentication failed")


def _authenticate_access_key(form: dict[str, str], config: NiceSimConfig) -> tuple[str, AccessKey]:
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "password":
        raise _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r}")
    key_id, secret = form.get("username"), form.get("password")
    if not key_id or secret is None:
        raise _oauth_error(400, "invalid_request", "username and password are required")
    key = config.access_keys.get(key_id)
    if key is None or not _same_secret(key.secret, secret):
        raise _oauth_error(401, "invalid_grant", "invalid access key id or secret")
    return key_id, key


def _issue_tokens(
    sim: NiceSimState, issuer: str, client_id: str, key_id: str, key: AccessKey
) -> dict[str, Any]:
    now = sim.clock()
    ttl = sim.config.token_ttl_seconds
    claims = {
        "iss": issuer,
        "sub": f"user:{uuid.uuid5(uuid.NAMESPACE_URL, key_id)}",
        "aud": client_id,
        "tenantId": key.tenant_id,
        "area": sim.config.area,
        "iat": int(now),
        "exp": int(now) + ttl,
    }
    access_token = (
        secrets.token_urlsafe(32)
        if sim.config.opaque_access_tokens
        else encode_jwt({**claims, "jti": uuid.uuid4().hex}, sim.signing_key)
    )
    id_token = encode_jwt({**claims, "name": key_id}, sim.signing_key)
    sim.tokens[access_token] = Grant(key_id, key.tenant_id, frozenset(key.permissions), now + ttl)
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ttl,
        "id_token": id_token,
    }


async def issue_token(request: Request) -> Response:
    sim = _state(request)
    try:
        form = await _read_form(request)
        client_id = _authenticate_client(request, form, sim.config.clients)
        key_id, key = _authenticate_access_key(form, sim.config)
    except Rejected as rejected:
        return rejected.response()
    tokens = _issue_tokens(sim, _base_url(request), client_id, key_id, key)
    return JSONResponse(tokens, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- business data -----------------------------------------------------------------------------


def _authorize(request: Request, sim: NiceSimState) -> Grant:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _api_error(
            401,
            "unauthorized",
            "bearer token required",
            headers={"WWW-Authenticate": 'Bearer realm="cxone"'},
        )
    grant = sim.tokens.get(token)
    if grant is None or sim.clock() >= grant.expires_at:
        problem = "unknown" if grant is None else "expired"
        raise _api_error(
            401,
            "invalid_token",
            f"access token is {problem}",
            headers={"WWW-Authenticate": 'Bearer realm="cxone", error="invalid_token"'},
        )
    if UPDATE_BUSINESS_DATA not in grant.permissions:
        raise _api_error(
            403, "forbidden", "the access key's user lacks the Update Business Data permission"
        )
    return grant


def _enforce_request_window(sim: NiceSimState, tenant_id: str) -> None:
    """The staging page's "once per 30 s per tenant"; rejected calls do not reopen the window."""
    window = sim.config.one_request_per_window_seconds
    if window is None:
        return
    now = sim.clock()
    opened_at = sim.window_opened_at.get(tenant_id)
    if opened_at is not None and now - opened_at < window:
        wait = max(1, math.ceil(window - (now - opened_at)))
        raise _api_error(
            429,
            "too_many_requests",
            f"one request per {window:g} s per tenant",
            headers={"Retry-After": str(wait)},
        )
    sim.window_opened_at[tenant_id] = now


class _JsonObject(list[tuple[str, Any]]):
    """A JSON object kept as its pairs, so duplicate keys are seen instead of collapsed."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_type(value: Any) -> str:
    if isinstance(value, _JsonObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _bad_body(message: str) -> Rejected:
    return _api_error(400, "invalid_body", message)


def _field_of(index: int, item: Any) -> tuple[str, Scalar]:
    if not isinstance(item, _JsonObject):
        raise _bad_body(f"body[{index}] must be an object, got {_json_type(item)}")
    if len(item) != 1:
        raise _bad_body(f"body[{index}] must have exactly one key, got {len(item)}")
    name, value = item[0]
    if not name:
        raise _bad_body(f"body[{index}] has an empty field name")
    if isinstance(value, _JsonObject | list) or value is None:
        raise _bad_body(
            f"body[{index}] field {name!r}: value must be a string, boolean or number, "
            f"got {_json_type(value)}"
        )
    return name, cast(Scalar, value)


def parse_business_data(raw: bytes) -> list[tuple[str, Scalar]]:
    """Validate the documented body shape, in order; raises ``Rejected`` (400)."""
    try:
        items = json.loads(raw, object_pairs_hook=_JsonObject, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _bad_body(f"body is not valid JSON: {exc}") from exc
    if isinstance(items, _JsonObject) or not isinstance(items, list):
        raise _bad_body(f"body must be a JSON array of single-key objects, got {_json_type(items)}")
    if not items:
        raise _bad_body("body must name at least one field")
    return [_field_of(index, item) for index, item in enumerate(items)]


async def _read_business_data(request: Request, config: NiceSimConfig) -> list[tuple[str, Scalar]]:
    content_type = media_type(request)
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if config.require_json_content_type and not is_json:
        raise _api_error(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {content_type!r}",
        )
    return parse_business_data(await request.body())


def _catalogued(
    fields: list[tuple[str, Scalar]], config: NiceSimConfig
) -> list[tuple[str, Scalar]]:
    """NICE cannot create fields: unknown names are rejected, or dropped when not rejecting."""
    catalogue = config.field_catalogue
    if catalogue is None:
        return fields
    unknown = sorted({name for name, _ in fields} - catalogue)
    if unknown and config.reject_unknown_fields:
        raise _api_error(400, "unknown_field", f"fields not defined: {', '.join(unknown)}")
    return [(name, value) for name, value in fields if name in catalogue]


def _contact_not_found(contact_id: str, reason: str) -> Rejected:
    return _api_error(404, "not_found", f"contact {contact_id} not found", reason=reason)


def _auto_created(
    sim: NiceSimState, tenant_id: str, contact_id: str, segment_id: str | None
) -> Contact:
    """Closed far enough in the past that the indexing lag is already over."""
    closed_at = sim.clock() - sim.config.indexing_lag_seconds
    segment = segment_id or str(uuid.uuid4())
    contact = Contact(contact_id, tenant_id, "closed", closed_at, {segment: {}})
    sim.contacts[contact_id] = contact
    return contact


def _writable_contact(
    sim: NiceSimState, tenant_id: str, contact_id: str, segment_id: str | None
) -> Contact:
    contact = sim.contacts.get(contact_id)
    if contact is None and sim.config.auto_create_contacts:
        contact = _auto_created(sim, tenant_id, contact_id, segment_id)
    if contact is None:
        raise _contact_not_found(contact_id, "unknown_contact")
    if contact.tenant_id != tenant_id:
        raise _contact_not_found(contact_id, "other_tenant")
    if contact.state == "open" or contact.closed_at is None:
        status = sim.config.open_contact_status
        if status == 404:
            raise _contact_not_found(contact_id, "contact_open")
        raise _api_error(
            status,
            "contact_not_closed",
            f"contact {contact_id} is still active",
            reason="contact_open",
        )
    if sim.clock() < contact.closed_at + sim.config.indexing_lag_seconds:
        raise _contact_not_found(contact_id, "indexing_lag")
    if segment_id is not None and segment_id not in contact.segments:
        raise _api_error(
            404,
            "not_found",
            f"segment {segment_id} of contact {contact_id} not found",
            reason="unknown_segment",
        )
    return contact


async def _update_business_data(
    request: Request, contact_id: str, segment_id: str | None
) -> Response:
    sim = _state(request)
    try:
        grant = _authorize(request, sim)
        _enforce_request_window(sim, grant.tenant_id)
        fields = _catalogued(await _read_business_data(request, sim.config), sim.config)
        contact = _writable_contact(sim, grant.tenant_id, contact_id, segment_id)
    except Rejected as rejected:
        return rejected.response()
    contact.write(fields, segment_id)
    return Response(status_code=204)


async def update_contact(request: Request, contact_id: str) -> Response:
    return await _update_business_data(request, contact_id, None)


async def update_segment(request: Request, contact_id: str, segment_id: str) -> Response:
    return await _update_business_data(request, contact_id, segment_id)


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["NICE CXone"])
    router.add_api_route("/.well-known/openid-configuration", openid_configuration, methods=["GET"])
    router.add_api_route("/.well-known/cxone-configuration", cxone_configuration, methods=["GET"])
    router.add_api_route(TOKEN_PATH, issue_token, methods=["POST"])
    contact_path = BUSINESS_DATA_PREFIX + "/contact/{contact_id}"
    router.add_api_route(contact_path, update_contact, methods=["PUT"], status_code=204)
    router.add_api_route(
        contact_path + "/segment/{segment_id}", update_segment, methods=["PUT"], status_code=204
    )
    return router


# --- control surface ---------------------------------------------------------------------------


def _known_contact(sim: NiceSimState, contact_id: str) -> Contact:
    contact = sim.contacts.get(contact_id)
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not registered")
    return contact


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def register_contact(request: Request, registration: ContactRegistration) -> dict[str, Any]:
    sim = _state(request)
    closed_at: float | None = None
    if registration.state == "closed":
        closed_at = (
            sim.clock() if registration.closed_at is None else _epoch(registration.closed_at)
        )
    segment_ids = dict.fromkeys(registration.segments or [str(uuid.uuid4())])
    contact = Contact(
        registration.contact_id,
        registration.tenant_id,
        registration.state,
        closed_at,
        {segment_id: {} for segment_id in segment_ids},
    )
    sim.contacts[contact.contact_id] = contact
    return contact.view()


async def list_contacts(request: Request) -> list[dict[str, Any]]:
    return [contact.view() for contact in _state(request).contacts.values()]


async def get_contact(request: Request, contact_id: str) -> dict[str, Any]:
    return _known_contact(_state(request), contact_id).view()


async def close_contact(request: Request, contact_id: str) -> dict[str, Any]:
    sim = _state(request)
    contact = _known_contact(sim, contact_id)
    contact.close(sim.clock())
    return contact.view()


async def expire_tokens(request: Request) -> dict[str, int]:
    return {"expired": _state(request).expire_tokens()}


def _mount_control_routes(app: FastAPI) -> None:
    add_control_route(app, "/_sim/contacts", register_contact, "POST", status_code=201)
    add_control_route(app, "/_sim/contacts", list_contacts, "GET")
    add_control_route(app, "/_sim/contacts/{contact_id}", get_contact, "GET")
    add_control_route(app, "/_sim/contacts/{contact_id}/close", close_contact, "POST")
    add_control_route(app, "/_sim/tokens/expire", expire_tokens, "POST")
    mount_config_routes(
        app,
        state=_state,
        view=NiceSimConfig.settings_view,
        refuse=refuse_unpatchable(PATCHABLE_SETTINGS),
    )


def create_app(
    config: NiceSimConfig | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> FastAPI:
    """Build one independent simulator; ``clock`` and ``sleep`` are injectable for tests."""
    faults = FaultInjector(sleep=sleep)
    log = RequestLog(clock)
    return mount_simulator(
        simulator_app("NICE CXone Business Data API simulator", __doc__),
        NiceSimState(config=config or NiceSimConfig(), clock=clock, faults=faults, requests=log),
        faults=faults,
        log=log,
        vendor=_vendor_router(faults, log),
        control=_mount_control_routes,
    )
