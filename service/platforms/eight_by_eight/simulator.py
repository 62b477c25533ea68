"""8x8 Contact Center Interaction Data Augmentation API simulator.

A local double holding the enricher's 8x8 client to what the real platform is documented to
enforce: Basic ``tenantId:actionToken`` with instant token rotation, one body shape at a time
(8x8's documents show three, so the client's choice is tested explicitly), the variable rules,
tenant-scoped interactions that refuse writes once finished, and the per-tenant rate limit:
a strict sliding window over request arrivals (no more than ``rate_limit_per_minute`` in any
``rate_limit_window_seconds``), so a client that sends one request too many is told so, and
every arrival's time is kept for tests to check the pacing from the vendor's side.
Rules 8x8 does not document, only implies, are settings (``EightByEightSimConfig``).

Vendor surface (faults and latency apply first; every call is recorded in the request log).
``{prefix}`` is ``/api/v1/interaction/data``, or ``/api/tstats/interaction/data`` when
``tstats_alias`` is on:

- ``POST {prefix}/guid/{guid}``, ``POST {prefix}/callId/{sipCallId}`` and, when
  ``bare_identifier_alias`` is on, ``POST {prefix}/{guid}``: set variables. Checked in this
  order: route enabled (404), Basic auth (401), rate limit (429), random 500s, JSON content
  type (400), body shape (400), variables (400), interaction (404: unknown, other tenant, or
  finished unless ``accept_finished``). Success -> 200 ``{"status": "success", "message":
  "Variables successfully set", "interactionId", "variablesSet"}``. An ``ivr: true``
  variable whose name the interaction's IVR script does not declare is accepted and ignored,
  as 8x8 documents; it is not counted in ``variablesSet``.
- ``GET`` on the same paths: ``{"interactionId", "channel", "createTime", "ani",
  "callerName", "variables": [...]}`` with ``privacy`` values masked.
- Every error is ``{"status": "error", "code": N, "message": ...}``, injected faults too;
  the header ``X-Sim-Reason`` tells look-alike 404s apart for debugging.

Control surface (no auth, not faulted, not logged):

- ``POST /_sim/interactions`` ``{"guid", "tenant_id", "call_id", "state": "active" |
  "finished", "channel", "ani", "caller_name", "ivr_variables": [names]}`` -> 201 with the
  interaction (stored variables in clear); an existing guid is replaced.
- ``GET /_sim/interactions``, ``GET /_sim/interactions/{guid}`` (404 when unknown),
  ``POST /_sim/interactions/{guid}/finish``.
- ``POST /_sim/tokens/rotate`` ``{"tenant_id"?, "action_token"?}`` -> ``{"tenant_id",
  "action_token"}``: the old token stops working at once, as in Configuration Manager; the
  tenant defaults to the only configured one, the token to a fresh random one.
- ``GET /_sim/config``; ``PATCH /_sim/config`` with any setting but ``tenants`` -> the
  settings, or 422.
- ``GET /_sim/arrivals`` -> ``{tenant_id: [{"at": epoch seconds, "limited": bool}, ...]}``:
  every authenticated vendor call in order of arrival, ``limited`` when it was answered 429.
  Refused calls do not use up the window, as in the rate limit itself.
- ``POST /_sim/reset`` -> 204; clears interactions, rate windows, arrivals, faults, latency and
  the request log, restores the configured tokens and re-seeds the random errors (the
  configuration stays).
- ``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``: see ``service.simulators.faults``.
"""

import asyncio
import hmac
import json
import math
import random
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.simulators.app import mount_simulator, simulator_app
from service.simulators.faults import (
    Clock,
    FaultInjector,
    FaultRule,
    RequestLog,
    Sleep,
    add_control_route,
    basic_credentials,
    iso_time,
    media_type,
    mount_config_routes,
    observed_route_class,
)

__all__ = [
    "DEV_ACTION_TOKEN",
    "DEV_TENANT_ID",
    "V1_PREFIX",
    "EightByEightSimConfig",
    "create_app",
]

DEV_TENANT_ID = "enricher-dev"
DEV_ACTION_TOKEN = "dev-action-token"  # noqa: S105 - public dev-mode credential
V1_PREFIX = "/api/v1/interaction/data"
TSTATS_PREFIX = "/api/tstats/interaction/data"
DATA_TYPES = frozenset({"text", "number", "phone", "phone number", "date", "time", "currency"})
NAME_SYNTAX = r"^_[A-Za-z0-9]+$"
PRIVACY_MASK = "****"
MAX_ARRIVALS = 10_000
"""Arrivals kept per tenant, so a dev-mode simulator running for hours stays bounded."""
_VARIABLE_KEYS = frozenset(
    {"name", "value", "display", "displayName", "ivr", "privacy", "dataType"}
)
_FLAGS = ("display", "ivr", "privacy")
_STATUS_MESSAGES = {
    400: "Bad request",
    401: "Authentication failed",
    403: "Forbidden",
    404: "Interaction not found",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

BodyShape = Literal["variables", "data_list", "data_object"]
InteractionState = Literal["active", "finished"]
Alias = Literal["v1", "tstats"]


class EightByEightSimConfig(BaseModel):
    """Simulator settings; called bare, a ready-to-use dev tenant that creates interactions
    on first write (the dev traffic generator invents their ids)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: dict[str, str] = Field(default_factory=lambda: {DEV_TENANT_ID: DEV_ACTION_TOKEN})
    """Tenant id -> action token."""
    body_shape: BodyShape = "variables"
    """The one outer shape accepted: ``{"variables"}``, ``{"data": [...]}``, ``{"data": {}}``."""
    tstats_alias: bool = False
    bare_identifier_alias: bool = False
    name_max_length: int = Field(default=24, ge=1)
    display_name_max_length: int = Field(default=29, ge=1)
    value_max_length: int = Field(default=1000, ge=1)
    max_variables: int | None = Field(default=50, ge=1)
    """50 per the developer site; None for the support article's "no limit"."""
    require_string_values: bool = True
    """Values are text in every 8x8 example; a JSON number is refused."""
    reject_unknown_properties: bool = True
    """Catches misspelt flags (``display_name`` for ``displayName``) instead of losing them."""
    require_json_content_type: bool = True
    accept_finished: bool = False
    """8x8 does not say whether it takes writes after an interaction ends; off means a finished
    interaction answers 404."""
    auto_create: bool = True
    rate_limit_per_minute: int | None = Field(default=100, ge=1)
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    """The window ``rate_limit_per_minute`` is counted over: 8x8's minute, or a shorter one so
    a test can watch several windows pass in seconds."""
    rate_limit_retry_after: bool = False
    """8x8 documents no Retry-After; on, the 429 says when the window frees a slot."""
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of authenticated calls answered with a random 500."""
    seed: int | None = None

    def settings_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"tenants"})


class InteractionRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guid: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    call_id: str | None = Field(default=None, min_length=1)
    state: InteractionState = "active"
    channel: str = "phone"
    ani: str | None = None
    caller_name: str | None = None
    ivr_variables: list[str] = Field(default_factory=list)


@dataclass
class Interaction:
    guid: str
    tenant_id: str
    call_id: str | None
    state: InteractionState
    channel: str
    created_at: float
    ani: str | None = None
    caller_name: str | None = None
    ivr_variables: frozenset[str] = frozenset()
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The control view: everything, private values in clear, for tests to assert on."""
        return {
            "guid": self.guid,
            "tenant_id": self.tenant_id,
            "call_id": self.call_id,
            "state": self.state,
            "channel": self.channel,
            "create_time": iso_time(self.created_at),
            "ani": self.ani,
            "caller_name": self.caller_name,
            "ivr_variables": sorted(self.ivr_variables),
            "variables": {name: dict(v) for name, v in self.variables.items()},
            "ignored": list(self.ignored),
        }

    def context(self) -> dict[str, Any]:
        """What the vendor's GET shows: privacy values are masked, as 8x8 does for display."""
        variables = [
            {"name": name, **v, **({"value": PRIVACY_MASK} if v.get("privacy") else {})}
            for name, v in self.variables.items()
        ]
        return {
            "interactionId": self.guid,
            "channel": self.channel,
            "createTime": iso_time(self.created_at),
            "ani": self.ani,
            "callerName": self.caller_name,
            "variables": variables,
        }

    def write(self, variables: list[dict[str, Any]]) -> int:
        """Last write wins per name (the whole variable, flags included); returns how many
        were set, leaving out IVR variables the script does not declare."""
        stored = 0
        for variable in variables:
            name = variable["name"]
            if variable.get("ivr") and name not in self.ivr_variables:
                self.ignored.append(name)
                continue
            self.variables[name] = {k: v for k, v in variable.items() if k != "name"}
            stored += 1
        return stored


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    limited: bool


@dataclass
class EightByEightSimState:
    """Everything one simulator instance remembers, kept on ``app.state.sim``."""

    config: EightByEightSimConfig
    clock: Clock
    faults: FaultInjector
    requests: RequestLog
    tokens: dict[str, str] = field(default_factory=dict)
    interactions: dict[str, Interaction] = field(default_factory=dict)
    rate_windows: dict[str, deque[float]] = field(default_factory=dict)
    arrivals: dict[str, deque[Arrival]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.restore_tokens()
        self.rng = random.Random(self.config.seed)  # noqa: S311 - fault timing, not crypto

    def restore_tokens(self) -> None:
        self.tokens = dict(self.config.tenants)

    def by_call_id(self, call_id: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.call_id == call_id), None)

    def register(self, interaction: Interaction) -> None:
        if interaction.call_id is not None:
            # A SIP Call-ID names one interaction: a new registration takes it over.
            for other in self.interactions.values():
                if other.call_id == interaction.call_id and other.guid != interaction.guid:
                    other.call_id = None
        self.interactions[interaction.guid] = interaction

    def reset(self) -> None:
        self.interactions.clear()
        self.rate_windows.clear()
        self.arrivals.clear()
        self.restore_tokens()
        self.rng = random.Random(self.config.seed)  # noqa: S311 - fault timing, not crypto
        self.faults.reset()
        self.requests.clear()


class Rejected(Exception):
    """An 8x8 error answer, raised from deep helpers and returned by the route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        if reason is not None:
            self.headers["X-Sim-Reason"] = reason

    def response(self) -> JSONResponse:
        return JSONResponse(
            error_body(self.status, self.message), status_code=self.status, headers=self.headers
        )


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"status": "error", "code": status, "message": message}


class EightByEightFaults(FaultInjector):
    """Injected faults answer in 8x8's error shape unless the rule brings its own body."""

    def take(self, method: str, path: str) -> FaultRule | None:
        rule = super().take(method, path)
        if rule is None or rule.status is None or rule.status < 400 or rule.body is not None:
            return rule
        message = _STATUS_MESSAGES.get(rule.status, f"HTTP {rule.status}")
        return rule.model_copy(update={"body": error_body(rule.status, message)})


def _state(request: Request) -> EightByEightSimState:
    return cast(EightByEightSimState, request.app.state.sim)


# --- auth and limits ---------------------------------------------------------------------------


def _authenticate(request: Request, sim: EightByEightSimState) -> str:
    """The tenant whose action token the request carries."""
    given = basic_credentials(request.headers.get("authorization", ""))
    if given is not None:
        tenant_id, token = given
        expected = sim.tokens.get(tenant_id)
        if expected is not None and hmac.compare_digest(expected.encode(), token.encode()):
            return tenant_id
    raise Rejected(
        401,
        "Authentication failed: invalid tenant or action token",
        headers={"WWW-Authenticate": 'Basic realm="8x8"'},
    )


def _enforce_rate_limit(sim: EightByEightSimState, tenant_id: str) -> None:
    """A sliding window per tenant: a call is refused when the window ending at its arrival
    (the last ``rate_limit_window_seconds``, the arrival included) already holds the limit.
    Refused calls do not use up the window. Every arrival is recorded either way."""
    now = sim.clock()
    arrivals = sim.arrivals.setdefault(tenant_id, deque(maxlen=MAX_ARRIVALS))
    limit = sim.config.rate_limit_per_minute
    if limit is None:
        arrivals.append(Arrival(now, limited=False))
        return
    seconds = sim.config.rate_limit_window_seconds
    window = sim.rate_windows.setdefault(tenant_id, deque())
    while window and now - window[0] >= seconds:
        window.popleft()
    if len(window) >= limit:
        arrivals.append(Arrival(now, limited=True))
        headers = {}
        if sim.config.rate_limit_retry_after:
            wait = max(1, math.ceil(seconds - (now - window[0])))
            headers["Retry-After"] = str(wait)
        per = "minute" if seconds == 60 else f"{seconds:g} seconds"
        raise Rejected(429, f"Rate limit of {limit} requests per {per} exceeded", headers=headers)
    window.append(now)
    arrivals.append(Arrival(now, limited=False))


def _maybe_random_error(sim: EightByEightSimState) -> None:
    rate = sim.config.error_rate
    if rate > 0 and sim.rng.random() < rate:
        raise Rejected(500, "Internal server error", reason="random_error")


def _admit(request: Request, sim: EightByEightSimState, alias: Alias) -> str:
    if alias == "tstats" and not sim.config.tstats_alias:
        raise Rejected(404, "Not found", reason="route_disabled")
    tenant_id = _authenticate(request, sim)
    _enforce_rate_limit(sim, tenant_id)
    _maybe_random_error(sim)
    return tenant_id


# --- body validation ---------------------------------------------------------------------------


def _bad(message: str) -> Rejected:
    return Rejected(400, message)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _variables_list(doc: Any, shape: BodyShape) -> Any:
    """Unwrap the configured shape only, so a client sending another one is told so."""
    expected = {
        "variables": '{"variables": [...]}',
        "data_list": '{"data": [{"variables": [...]}]}',
        "data_object": '{"data": {"variables": [...]}}',
    }[shape]
    wrong = _bad(f"Invalid request body: expected {expected}")
    if not isinstance(doc, dict):
        raise wrong
    if shape == "variables":
        if set(doc) != {"variables"}:
            raise wrong
        return doc["variables"]
    data = doc.get("data")
    if set(doc) != {"data"}:
        raise wrong
    if shape == "data_list":
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            raise wrong
        data = data[0]
    if not isinstance(data, dict) or set(data) != {"variables"}:
        raise wrong
    return data["variables"]


def _flag(name: str, key: str, value: Any) -> bool:
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise _bad(f"Invalid {key} for variable {name}: must be true or false")


def _check_name(name: Any, config: EightByEightSimConfig) -> str:
    if not isinstance(name, str) or not name:
        raise _bad("Invalid variable: name is required")
    if not name.startswith("_"):
        raise _bad(f"Invalid variable name {name}: must start with underscore")
    if not re.fullmatch(NAME_SYNTAX, name):
        raise _bad(f"Invalid variable name {name}: only letters and digits may follow '_'")
    if len(name) > config.name_max_length:
        raise _bad(f"Invalid variable name {name}: longer than {config.name_max_length} characters")
    return name


def _check_value(name: str, value: Any, config: EightByEightSimConfig) -> str:
    if value is None:
        raise _bad(f"Invalid variable {name}: value is required")
    if isinstance(value, dict | list):
        raise _bad(f"Invalid value for variable {name}: must be a string")
    if not isinstance(value, str) and config.require_string_values:
        raise _bad(f"Invalid value for variable {name}: must be a string, got {value!r}")
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > config.value_max_length:
        # Echoes the value, as error messages in the wild do: clients must not log it blindly.
        raise _bad(
            f"Invalid value {text!r} for variable {name}: "
            f"longer than {config.value_max_length} characters"
        )
    return text


def _check_variable(item: Any, config: EightByEightSimConfig) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _bad("Invalid variable: each variable must be an object")
    name = _check_name(item.get("name"), config)
    unknown = sorted(set(item) - _VARIABLE_KEYS)
    if unknown and config.reject_unknown_properties:
        raise _bad(f"Invalid variable {name}: unknown properties {', '.join(unknown)}")
    variable: dict[str, Any] = {
        "name": name,
        "value": _check_value(name, item.get("value"), config),
    }
    for key in _FLAGS:
        if key in item:
            variable[key] = _flag(name, key, item[key])
    if "displayName" in item:
        label = item["displayName"]
        if not isinstance(label, str):
            raise _bad(f"Invalid displayName for variable {name}: must be a string")
        if len(label) > config.display_name_max_length:
            raise _bad(
                f"Invalid displayName for variable {name}: "
                f"longer than {config.display_name_max_length} characters"
            )
        variable["displayName"] = label
    if "dataType" in item:
        data_type = item["dataType"]
        if data_type not in DATA_TYPES:
            raise _bad(
                f"Invalid dataType for variable {name}: must be one of "
                f"{', '.join(sorted(DATA_TYPES))}"
            )
        variable["dataType"] = data_type
    return variable


def parse_variables(raw: bytes, config: EightByEightSimConfig) -> list[dict[str, Any]]:
    """Validate a set-variables body; raises ``Rejected`` (400)."""
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _bad(f"Invalid JSON: {exc}") from exc
    items = _variables_list(doc, config.body_shape)
    if not isinstance(items, list) or not items:
        raise _bad("Invalid request body: variables must be a non-empty array")
    if config.max_variables is not None and len(items) > config.max_variables:
        raise _bad(f"Too many variables: at most {config.max_variables} per request")
    return [_check_variable(item, config) for item in items]


async def _read_variables(request: Request, config: EightByEightSimConfig) -> list[dict[str, Any]]:
    content_type = media_type(request)
    if config.require_json_content_type and content_type != "application/json":
        raise _bad(f"Content-Type must be application/json, got {content_type!r}")
    return parse_variables(await request.body(), config)


# --- interactions ------------------------------------------------------------------------------


IdKind = Literal["guid", "callId"]


def _not_found(kind: IdKind, identifier: str, reason: str) -> Rejected:
    return Rejected(
        404, f"Interaction {kind} {identifier} not found in the target tenant", reason=reason
    )


def _auto_created(
    sim: EightByEightSimState, tenant_id: str, kind: IdKind, identifier: str
) -> Interaction:
    guid = identifier if kind == "guid" else f"int-{uuid.uuid4().hex}"
    call_id = identifier if kind == "callId" else None
    interaction = Interaction(guid, tenant_id, call_id, "active", "phone", sim.clock())
    sim.register(interaction)
    return interaction


def _find(
    sim: EightByEightSimState, tenant_id: str, kind: IdKind, identifier: str, *, create: bool
) -> Interaction:
    found = sim.interactions.get(identifier) if kind == "guid" else sim.by_call_id(identifier)
    if found is None and create and sim.config.auto_create and identifier:
        found = _auto_created(sim, tenant_id, kind, identifier)
    if found is None:
        raise _not_found(kind, identifier, "unknown_interaction")
    if found.tenant_id != tenant_id:
        raise _not_found(kind, identifier, "other_tenant")
    return found


async def _set_variables(request: Request, alias: Alias, kind: IdKind, identifier: str) -> Response:
    sim = _state(request)
    try:
        tenant_id = _admit(request, sim, alias)
        variables = await _read_variables(request, sim.config)
        interaction = _find(sim, tenant_id, kind, identifier, create=True)
        if interaction.state == "finished" and not sim.config.accept_finished:
            raise _not_found(kind, identifier, "interaction_finished")
    except Rejected as rejected:
        return rejected.response()
    stored = interaction.write(variables)
    return JSONResponse(
        {
            "status": "success",
            "message": "Variables successfully set",
            "interactionId": interaction.guid,
            "variablesSet": stored,
        }
    )


async def _get_context(request: Request, alias: Alias, kind: IdKind, identifier: str) -> Response:
    sim = _state(request)
    try:
        tenant_id = _admit(request, sim, alias)
        interaction = _find(sim, tenant_id, kind, identifier, create=False)
    except Rejected as rejected:
        return rejected.response()
    return JSONResponse(interaction.context())


Handler = Callable[..., Awaitable[Response]]


def _handlers(alias: Alias) -> dict[str, Handler]:
    """One endpoint per (route, method), with the alias they were mounted under bound in."""

    async def post_guid(request: Request, guid: str) -> Response:
        return await _set_variables(request, alias, "guid", guid)

    async def post_call_id(request: Request, sip_call_id: str) -> Response:
        return await _set_variables(request, alias, "callId", sip_call_id)

    async def post_bare(request: Request, identifier: str) -> Response:
        if not _state(request).config.bare_identifier_alias:
            return Rejected(404, "Not found", reason="route_disabled").response()
        return await _set_variables(request, alias, "guid", identifier)

    async def get_guid(request: Request, guid: str) -> Response:
        return await _get_context(request, alias, "guid", guid)

    async def get_call_id(request: Request, sip_call_id: str) -> Response:
        return await _get_context(request, alias, "callId", sip_call_id)

    async def get_bare(request: Request, identifier: str) -> Response:
        if not _state(request).config.bare_identifier_alias:
            return Rejected(404, "Not found", reason="route_disabled").response()
        return await _get_context(request, alias, "guid", identifier)

    return {
        "POST guid": post_guid,
        "POST callId": post_call_id,
        "POST bare": post_bare,
        "GET guid": get_guid,
        "GET callId": get_call_id,
        "GET bare": get_bare,
    }


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["8x8"])
    prefixes: dict[Alias, str] = {"v1": V1_PREFIX, "tstats": TSTATS_PREFIX}
    for alias, prefix in prefixes.items():
        handlers = _handlers(alias)
        # ``:path`` because a SIP Call-ID may hold "/", which arrives percent-decoded.
        paths = {
            "guid": prefix + "/guid/{guid:path}",
            "callId": prefix + "/callId/{sip_call_id:path}",
            "bare": prefix + "/{identifier}",
        }
        for route, path in paths.items():
            for method in ("POST", "GET"):
                router.add_api_route(path, handlers[f"{method} {route}"], methods=[method])
    return router


# --- control surface ---------------------------------------------------------------------------


class TokenRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str | None = None
    action_token: str | None = Field(default=None, min_length=1)


def _known_interaction(sim: EightByEightSimState, guid: str) -> Interaction:
    interaction = sim.interactions.get(guid)
    if interaction is None:
        raise HTTPException(404, f"interaction {guid} not registered")
    return interaction


async def register_interaction(
    request: Request, registration: InteractionRegistration
) -> dict[str, Any]:
    sim = _state(request)
    interaction = Interaction(
        registration.guid,
        registration.tenant_id,
        registration.call_id,
        registration.state,
        registration.channel,
        sim.clock(),
        registration.ani,
        registration.caller_name,
        frozenset(registration.ivr_variables),
    )
    sim.register(interaction)
    return interaction.view()


async def list_interactions(request: Request) -> list[dict[str, Any]]:
    return [i.view() for i in _state(request).interactions.values()]


async def get_interaction(request: Request, guid: str) -> dict[str, Any]:
    return _known_interaction(_state(request), guid).view()


async def finish_interaction(request: Request, guid: str) -> dict[str, Any]:
    interaction = _known_interaction(_state(request), guid)
    interaction.state = "finished"
    return interaction.view()


async def list_arrivals(request: Request) -> dict[str, list[dict[str, Any]]]:
    return {
        tenant: [{"at": a.at, "limited": a.limited} for a in arrivals]
        for tenant, arrivals in _state(request).arrivals.items()
    }


async def rotate_token(
    request: Request, rotation: Annotated[TokenRotation | None, Body()] = None
) -> dict[str, str]:
    sim = _state(request)
    rotation = rotation or TokenRotation()
    tenant_id = rotation.tenant_id
    if tenant_id is None:
        if len(sim.tokens) != 1:
            raise HTTPException(422, "several tenants are configured: name tenant_id")
        tenant_id = next(iter(sim.tokens))
    if tenant_id not in sim.tokens:
        raise HTTPException(404, f"tenant {tenant_id} not configured")
    token = rotation.action_token or secrets.token_urlsafe(24)
    sim.tokens[tenant_id] = token
    return {"tenant_id": tenant_id, "action_token": token}


def _refuse_tenants(changes: Mapping[str, Any]) -> str | None:
    """Tokens are rotated through their own route, which keeps one token per tenant."""
    return "tenants are not patchable; use /_sim/tokens/rotate" if "tenants" in changes else None


def _adopt_config(request: Request, config: EightByEightSimConfig) -> None:
    sim = _state(request)
    if config.seed != sim.config.seed:
        sim.rng = random.Random(config.seed)  # noqa: S311 - fault timing, not crypto
    sim.config = config


def _mount_control_routes(app: FastAPI) -> None:
    add_control_route(app, "/_sim/interactions", register_interaction, "POST", status_code=201)
    add_control_route(app, "/_sim/interactions", list_interactions, "GET")
    add_control_route(app, "/_sim/interactions/{guid}", get_interaction, "GET")
    add_control_route(app, "/_sim/interactions/{guid}/finish", finish_interaction, "POST")
    add_control_route(app, "/_sim/tokens/rotate", rotate_token, "POST")
    add_control_route(app, "/_sim/arrivals", list_arrivals, "GET")
    mount_config_routes(
        app,
        state=_state,
        view=EightByEightSimConfig.settings_view,
        refuse=_refuse_tenants,
        adopt=_adopt_config,
    )


def create_app(
    config: EightByEightSimConfig | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> FastAPI:
    """Build one independent simulator; ``clock`` and ``sleep`` are injectable for tests."""
    faults = EightByEightFaults(sleep=sleep)
    log = RequestLog(clock)
    return mount_simulator(
        simulator_app("8x8 Interaction Data Augmentation API simulator", __doc__),
        EightByEightSimState(
            config=config or EightByEightSimConfig(), clock=clock, faults=faults, requests=log
        ),
        faults=faults,
        log=log,
        vendor=_vendor_router(faults, log),
        control=_mount_control_routes,
    )
