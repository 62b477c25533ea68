"""A simulator for the generic ``http`` platform: any JSON endpoint a tenants file can describe.

It holds a client to what a plain HTTP sink demands (its credentials, the body shape it was
told to expect, a JSON content type) and keeps what it accepted, in order, so tests can check
that the vendor never went back to an older revision and ends with the newest value per field.

Vendor surface (faults and latency apply first; every call is recorded in the request log,
credentials masked):

- ``POST /oauth/token`` (``application/x-www-form-urlencoded``, ``grant_type=client_credentials``,
  client by HTTP Basic or by ``client_id``/``client_secret`` form fields, optional ``scope``)
  -> ``{"access_token", "token_type": "Bearer", "expires_in"}``; 401 ``invalid_client``,
  400 ``unsupported_grant_type`` or ``invalid_request``.
- ``POST|PUT|PATCH {path}`` for any path under ``path_prefix`` (records are keyed by the
  path as it arrived, percent-encoding kept), checked in order: credentials
  for ``auth`` (401), JSON content type (415), the body in ``body_shape`` with scalar values
  (400), a refusal installed for the path (its status and body), the record known when
  ``auto_create`` is off (404). Success -> ``success_status`` (204 by default, or 200/201 with
  ``{"accepted": n}``); the fields are merged into the record at that path (the last value of a
  name wins) and the write joins the accepted list.

Control surface (no auth, not faulted, not logged):

- ``GET /_sim/records`` -> ``{path: {field: value}}``; ``GET /_sim/record?path=P`` ->
  ``{"path", "fields"}`` or 404; ``POST /_sim/records`` ``{"path"}`` ->
  201, a record that exists (what ``auto_create: false`` asks for).
- ``GET /_sim/accepted`` -> every accepted write in order: ``{"method", "path", "query",
  "fields", "idempotency_key", "at"}``.
- ``POST /_sim/refusals`` ``{"path", "status", "body", "retry_after"}`` -> 201: every later
  write to ``path`` gets that answer (a record that stopped taking writes);
  ``DELETE /_sim/refusals`` -> 204.
- ``POST /_sim/tokens/expire`` -> ``{"expired": n}``.
- ``GET /_sim/config``; ``PATCH /_sim/config`` with any of ``auth``, ``body_shape``,
  ``under``, ``name_key``, ``value_key``, ``success_status``, ``auto_create``,
  ``token_ttl_seconds`` -> the settings, or 422.
- ``POST /_sim/reset``; ``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``: see
  ``service.simulators.faults``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

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

__all__ = [
    "DEV_BEARER_TOKEN",
    "DEV_CLIENT_ID",
    "DEV_CLIENT_SECRET",
    "DEV_PASSWORD",
    "DEV_USERNAME",
    "TOKEN_PATH",
    "HttpSimConfig",
    "create_app",
]

DEV_USERNAME = "enricher-dev"
DEV_PASSWORD = "dev-http-password"  # noqa: S105 - public dev-mode credential
DEV_BEARER_TOKEN = "dev-http-bearer-token"  # noqa: S105 - public dev-mode credential
DEV_CLIENT_ID = "enricher-dev"
DEV_CLIENT_SECRET = "dev-http-client-secret"  # noqa: S105 - public dev-mode credential
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
WRITE_METHODS = ("POST", "PUT", "PATCH")
PATCHABLE_SETTINGS = frozenset(
    {
        "auth",
        "body_shape",
        "under",
        "name_key",
        "value_key",
        "success_status",
        "auto_create",
        "token_ttl_seconds",
    }
)

Scalar = str | bool | int | float | None


class HttpSimConfig(BaseModel):
    """Simulator settings; the defaults take what a bare ``http`` tenant sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: Literal["none", "basic", "bearer", "client_credentials"] = "none"
    username: str = DEV_USERNAME
    password: str = DEV_PASSWORD
    bearer_token: str = DEV_BEARER_TOKEN
    clients: dict[str, str] = Field(default_factory=lambda: {DEV_CLIENT_ID: DEV_CLIENT_SECRET})
    token_ttl_seconds: int = Field(default=3600, gt=0)
    body_shape: Literal["object", "pairs"] = "object"
    under: str | None = None
    name_key: str = "name"
    value_key: str = "value"
    path_prefix: str = "/"
    success_status: Literal[200, 201, 204] = 204
    auto_create: bool = True

    def settings_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(PATCHABLE_SETTINGS))


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    status: int = Field(ge=400, le=599)
    body: dict[str, Any] = Field(default_factory=lambda: {"error": "refused"})
    retry_after: str | None = None


class RecordRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)


@dataclass
class HttpSimState:
    config: HttpSimConfig
    clock: Clock
    faults: FaultInjector
    requests: RequestLog
    records: dict[str, dict[str, Scalar]] = field(default_factory=dict)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refusals: dict[str, Refusal] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self.records.clear()
        self.accepted.clear()
        self.refusals.clear()
        self.tokens.clear()
        self.faults.reset()
        self.requests.clear()


class Rejected(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def _state(request: Request) -> HttpSimState:
    return cast(HttpSimState, request.app.state.sim)


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


# --- token endpoint ----------------------------------------------------------------------------


def _oauth_error(status: int, error: str) -> Rejected:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return Rejected(status, {"error": error}, headers)


def _client(request: Request, form: dict[str, str], clients: dict[str, str]) -> str:
    header = request.headers.get("authorization")
    if header is not None:
        given = basic_credentials(header)
        candidates = [] if given is None else [(unquote_plus(given[0]), unquote_plus(given[1]))]
    elif "client_id" in form:
        candidates = [(form["client_id"], form.get("client_secret", ""))]
    else:
        candidates = []
    for client_id, secret in candidates:
        expected = clients.get(client_id)
        if expected is not None and _same(expected, secret):
            return client_id
    raise _oauth_error(401, "invalid_client")


async def issue_token(request: Request) -> Response:
    sim = _state(request)
    if media_type(request) != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request").response()
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        _client(request, form, sim.config.clients)
        if form.get("grant_type") != "client_credentials":
            raise _oauth_error(400, "unsupported_grant_type")
    except Rejected as rejected:
        return rejected.response()
    token = secrets.token_urlsafe(24)
    ttl = sim.config.token_ttl_seconds
    sim.tokens[token] = sim.clock() + ttl
    return JSONResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": ttl},
        headers={"Cache-Control": "no-store"},
    )


# --- writes ------------------------------------------------------------------------------------


def _unauthorized(scheme: str) -> Rejected:
    return Rejected(401, {"error": "unauthorized"}, {"WWW-Authenticate": f'{scheme} realm="sim"'})


def _authorize(request: Request, sim: HttpSimState) -> None:
    config = sim.config
    header = request.headers.get("authorization", "")
    if config.auth == "basic":
        given = basic_credentials(header)
        if given is None or not (
            _same(config.username, given[0]) and _same(config.password, given[1])
        ):
            raise _unauthorized("Basic")
        return
    if config.auth == "none":
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Bearer")
    token = token.strip()
    if config.auth == "bearer":
        if not _same(config.bearer_token, token):
            raise _unauthorized("Bearer")
        return
    expires_at = sim.tokens.get(token)
    if expires_at is None or sim.clock() >= expires_at:
        raise _unauthorized("Bearer")


def _bad(message: str) -> Rejected:
    return Rejected(400, {"error": "invalid_body", "message": message})


def _scalar(name: str, value: Any) -> Scalar:
    if isinstance(value, dict | list):
        raise _bad(f"field {name!r}: value must be a scalar")
    return cast(Scalar, value)


def read_fields(raw: bytes, config: HttpSimConfig) -> list[tuple[str, Scalar]]:
    """The fields of a body in the configured shape, in body order; raises ``Rejected``."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad("body is not JSON") from None
    if config.under is not None:
        if not isinstance(body, dict) or config.under not in body:
            raise _bad(f"body must be an object with {config.under!r}")
        body = body[config.under]
    if config.body_shape == "object":
        if not isinstance(body, dict):
            raise _bad("fields must be an object")
        return [(name, _scalar(name, value)) for name, value in body.items()]
    if not isinstance(body, list):
        raise _bad("fields must be a list of name/value objects")
    fields = []
    for index, item in enumerate(body):
        keys = {config.name_key, config.value_key}
        if not isinstance(item, dict) or set(item) != keys:
            raise _bad(f"item {index} must have exactly {sorted(keys)}")
        name = item[config.name_key]
        if not isinstance(name, str) or not name:
            raise _bad(f"item {index}: {config.name_key!r} must be a non-empty string")
        fields.append((name, _scalar(name, item[config.value_key])))
    return fields


def _raw_path(request: Request) -> str:
    """The path as it arrived, still percent-encoded: an encoded ``/`` in an id stays part of
    one step, as a server that routes on the raw path sees it."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path


async def write(request: Request) -> Response:
    sim = _state(request)
    where = _raw_path(request)
    try:
        _authorize(request, sim)
        if not where.startswith(sim.config.path_prefix):
            raise Rejected(404, {"error": "not_found", "message": f"no endpoint at {where}"})
        kind = media_type(request)
        if kind != "application/json" and not kind.endswith("+json"):
            raise Rejected(415, {"error": "unsupported_media_type"})
        fields = read_fields(await request.body(), sim.config)
        refusal = sim.refusals.get(where)
        if refusal is not None:
            headers = {} if refusal.retry_after is None else {"Retry-After": refusal.retry_after}
            raise Rejected(refusal.status, refusal.body, headers)
        if where not in sim.records and not sim.config.auto_create:
            raise Rejected(404, {"error": "not_found", "message": f"no record at {where}"})
    except Rejected as rejected:
        return rejected.response()
    sim.records.setdefault(where, {}).update(fields)
    sim.accepted.append(
        {
            "method": request.method,
            "path": where,
            "query": request.url.query,
            "fields": dict(fields),
            "idempotency_key": request.headers.get("idempotency-key"),
            "at": iso_time(sim.clock()),
        }
    )
    status = sim.config.success_status
    if status == 204:
        return Response(status_code=204)
    return JSONResponse({"accepted": len(fields)}, status_code=status)


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["HTTP endpoint"])
    router.add_api_route(TOKEN_PATH, issue_token, methods=["POST"])
    for method in WRITE_METHODS:  # one route each: OpenAPI wants an operation id per method
        router.add_api_route(
            "/{path:path}", write, methods=[method], operation_id=f"write_{method.lower()}"
        )
    return router


# --- control surface ---------------------------------------------------------------------------


async def list_records(request: Request) -> dict[str, dict[str, Scalar]]:
    return _state(request).records


async def get_record(request: Request, path: str) -> dict[str, Any]:
    """One record by its path as it arrived, percent-encoding kept."""
    fields = _state(request).records.get(path)
    if fields is None:
        raise HTTPException(404, f"no record at {path}")
    return {"path": path, "fields": fields}


async def register_record(request: Request, registration: RecordRegistration) -> dict[str, Any]:
    _state(request).records.setdefault(registration.path, {})
    return {"path": registration.path}


async def list_accepted(request: Request) -> list[dict[str, Any]]:
    return _state(request).accepted


async def add_refusal(request: Request, refusal: Refusal) -> dict[str, Any]:
    _state(request).refusals[refusal.path] = refusal
    return refusal.model_dump()


async def clear_refusals(request: Request) -> Response:
    _state(request).refusals.clear()
    return Response(status_code=204)


async def expire_tokens(request: Request) -> dict[str, int]:
    sim = _state(request)
    now = sim.clock()
    sim.tokens = {token: min(at, now) for token, at in sim.tokens.items()}
    return {"expired": len(sim.tokens)}


def _mount_control_routes(app: FastAPI) -> None:
    add_control_route(app, "/_sim/records", list_records, "GET")
    add_control_route(app, "/_sim/records", register_record, "POST", status_code=201)
    add_control_route(app, "/_sim/record", get_record, "GET")
    add_control_route(app, "/_sim/accepted", list_accepted, "GET")
    add_control_route(app, "/_sim/refusals", add_refusal, "POST", status_code=201)
    add_control_route(app, "/_sim/refusals", clear_refusals, "DELETE")
    add_control_route(app, "/_sim/tokens/expire", expire_tokens, "POST")
    mount_config_routes(
        app,
        state=_state,
        view=HttpSimConfig.settings_view,
        refuse=refuse_unpatchable(PATCHABLE_SETTINGS),
    )


def create_app(
    config: HttpSimConfig | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> FastAPI:
    """Build one independent simulator; ``clock`` and ``sleep`` are injectable for tests."""
    faults = FaultInjector(sleep=sleep)
    log = RequestLog(clock)
    app = mount_simulator(
        simulator_app("Generic HTTP endpoint simulator", __doc__),
        HttpSimState(config=config or HttpSimConfig(), clock=clock, faults=faults, requests=log),
        faults=faults,
        log=log,
        vendor=_vendor_router(faults, log),
        control=_mount_control_routes,
    )
    # Nothing is read back from the endpoint: any other GET finds nothing (not a 405 from
    # the write routes' catch-all path).
    app.add_api_route("/{path:path}", _nothing_here, methods=["GET"], include_in_schema=False)
    return app


async def _nothing_here(path: str) -> Response:
    return JSONResponse({"error": "not_found", "message": f"nothing at /{path}"}, 404)
