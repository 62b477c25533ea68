"""Genesys Web Services API v2 simulator.

A local double that holds the enricher's GWS client to what the real server demands: HTTP Basic
plus a servlet session cookie, the CSRF token a GET announces, agent-owned interactions that
only accept user-data operations while their ``capabilities`` allow them, and a ``statusCode``
in every answer. Rules that GWS does not document, only implies, are settings (``GwsSimConfig``).

Vendor surface (faults and latency apply first; every call is recorded in the request log,
with credentials, cookie values and CSRF tokens masked):

- Authentication, on every ``/api/v2/me...`` route: Basic ``user:password``, or a live session
  cookie alone. Missing or wrong credentials -> ``{"statusCode": 20}`` (HTTP
  ``unauthenticated_http_status``, 401); a user asked to change password -> ``statusCode 8``.
  A request without a live session gets a new one: ``Set-Cookie: JSESSIONID=...`` (plus the
  ``lb_cookie`` stickiness cookie when configured; a request whose stickiness cookie is missing
  lands on a "node" that does not know the session).
- CSRF (``csrf_protection``, on by default): every GET answers ``X-CSRF-HEADER`` (the header
  name to send) and ``X-CSRF-TOKEN`` (the session's token; a new session, a new token). A POST
  without a live session cookie or without the matching token -> HTTP 403, ``text/plain``
  "Missing or invalid Csrf token", before authentication (the filter order of the real server).
- ``GET /api/v2/me`` -> ``{"statusCode": 0, "user": {...}}``; ``GET /api/v2/me/{media}`` ->
  the agent's interactions; ``GET /api/v2/me/{media}/{id}`` -> one, or ``statusCode 6``.
  ``media`` is ``calls``, ``chats`` or ``smssessions``.
- ``POST /api/v2/me/{media}/{id}`` with ``{"operationName": ..., ...}``, checked in order:
  body a JSON object with ``operationName`` (``statusCode 1``); interaction exists and belongs
  to the agent (``6``; unknown ids are created live for the caller when ``auto_create``);
  operation known for the media and its parameters present (``1``; with ``strict_values``,
  userData values must be strings or 32-bit integers: ``1`` for other types, ``10`` out of
  range); operation in the interaction's current ``capabilities`` (``2``). Success -> HTTP 200
  ``{"statusCode": 0}`` and, after the answer, an ``AttachedDataChanged`` (calls) or
  ``PropertiesUpdated`` (chats, SMS) notification on the ``/_sim/events`` hook.
  Operations: calls ``UpdateUserData`` (overwrite), ``AttachUserData`` (append, duplicates
  kept), ``DeleteUserDataPair`` (``key``), ``DeleteUserData`` (everything),
  ``SetCallDisposition`` (``disposition``, optional ``dispositionKey``: written as user data on
  a live call; on a released call recorded for reporting, without a notification); chats and
  SMS ``UpdateUserData``, ``AttachUserData``, ``DeleteUserData`` (``keys``).
  Error answers use the HTTP status of ``http_status_by_code`` (400 for codes not listed).

Control surface (no auth, not faulted, not logged):

- ``POST /_sim/interactions`` ``{"media", "id", "agent" (default: the first user), "state"
  (default live: Established or Chatting), "capabilities" (default: by state), "user_data"}``
  -> 201; ``GET /_sim/interactions``; ``GET /_sim/interactions/{media}/{id}`` -> the
  interaction with ``user_data`` (last value per key), ``user_data_pairs`` (every pair, in
  order) and ``dispositions``, or 404.
- ``POST /_sim/interactions/calls/{id}/release``, ``POST /_sim/interactions/{chats|smssessions}
  /{id}/complete`` -> the interaction, now without capabilities (409 for the wrong media).
- ``GET /_sim/events?min_count=N&timeout=S`` -> the notifications so far, waiting up to S
  seconds for at least N of them; ``DELETE /_sim/events`` -> 204.
- ``GET /_sim/sessions`` -> live sessions (user, creation time; no tokens);
  ``POST /_sim/sessions/expire`` -> ``{"expired": n}``: every session and its token stop working.
- ``PUT /_sim/users/{username}`` ``{"password", "password_change_required"}`` -> creates or
  rotates a user; the old password stops working at once (live sessions stay, as in a servlet
  container, but requests carrying the old Basic credentials are refused).
- ``POST /_sim/status-codes`` ``{"status_code": 4, "times": 1, "http_status": null, "media":
  null}`` -> 201 with the fault rule answering the next writes with that ``statusCode``.
- ``GET /_sim/config``; ``PATCH /_sim/config`` with any of ``csrf_protection``,
  ``csrf_header_name``, ``lb_cookie``, ``auto_create``, ``strict_values``,
  ``unauthenticated_http_status``, ``http_status_by_code``, ``event_delay_ms`` -> the settings,
  or 422.
- ``POST /_sim/reset`` -> 204; clears interactions, sessions, events, faults, latency and the
  request log, and restores the configured users.
- ``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``: see ``service.simulators.faults``.
"""

import asyncio
import contextlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.background import BackgroundTask

from service.simulators.app import mount_simulator, simulator_app
from service.simulators.faults import (
    REDACTED,
    Clock,
    FaultInjector,
    FaultRule,
    RequestLog,
    Sleep,
    add_control_route,
    basic_credentials,
    iso_time,
    mount_config_routes,
    observed_route_class,
    refuse_unpatchable,
)

DEV_USERNAME = "enricher-dev"
DEV_PASSWORD = "dev-password"  # noqa: S105 - public dev-mode credential
SESSION_COOKIE = "JSESSIONID"
CSRF_REFUSAL = "Missing or invalid Csrf token"
API_PREFIX = "/api/v2/me"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
PATCHABLE_SETTINGS = frozenset(
    {
        "csrf_protection",
        "csrf_header_name",
        "lb_cookie",
        "auto_create",
        "strict_values",
        "unauthenticated_http_status",
        "http_status_by_code",
        "event_delay_ms",
    }
)

Media = Literal["calls", "chats", "smssessions"]
MEDIA: tuple[Media, ...] = ("calls", "chats", "smssessions")
SINGULAR: dict[str, str] = {"calls": "call", "chats": "chat", "smssessions": "smssession"}
LIVE_STATE = {"calls": "Established", "chats": "Chatting", "smssessions": "Chatting"}
ENDED_STATE = {"calls": "Released", "chats": "Completed", "smssessions": "Completed"}
CALL_CAPABILITIES = (
    "AttachUserData",
    "UpdateUserData",
    "DeleteUserDataPair",
    "DeleteUserData",
    "SetCallDisposition",
    "Hold",
    "Hangup",
)
CHAT_CAPABILITIES = (
    "AttachUserData",
    "UpdateUserData",
    "DeleteUserData",
    "SetDisposition",
    "SendMessage",
    "Complete",
)
OPERATIONS: dict[str, frozenset[str]] = {
    "calls": frozenset(
        {
            "UpdateUserData",
            "AttachUserData",
            "DeleteUserDataPair",
            "DeleteUserData",
            "SetCallDisposition",
        }
    ),
    "chats": frozenset({"UpdateUserData", "AttachUserData", "DeleteUserData"}),
    "smssessions": frozenset({"UpdateUserData", "AttachUserData", "DeleteUserData"}),
}
DEFAULT_DISPOSITION_KEY = "DispositionCode"

Scalar = str | int | float | bool | None


def _default_http_status_by_code() -> dict[int, int]:
    return {1: 400, 2: 400, 3: 403, 4: 500, 5: 403, 6: 404, 8: 403, 9: 500, 10: 400, 20: 401}


class GwsSimConfig(BaseModel):
    """Simulator settings; the defaults make a ready-to-use dev-mode agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: dict[str, str] = Field(default_factory=lambda: {DEV_USERNAME: DEV_PASSWORD})
    """Agent usernames and passwords."""
    csrf_protection: bool = True
    """``enableCsrfProtection`` of the GWS deployment."""
    csrf_header_name: str = Field(default="X-CSRF-TOKEN", pattern=r"^[A-Za-z0-9-]{1,64}$")
    lb_cookie: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Name of a load balancer stickiness cookie; sessions are only found with it."""
    auto_create: bool = True
    """Unknown interaction ids become live interactions of the caller (dev traffic invents
    ids); tests switch it off to see ``statusCode 6``."""
    strict_values: bool = True
    """userData values must be strings or 32-bit integers, as in every vendor example."""
    unauthenticated_http_status: int = Field(default=401, ge=400, le=599)
    http_status_by_code: dict[int, int] = Field(default_factory=_default_http_status_by_code)
    """HTTP status sent with each non-zero statusCode; GWS does not document the pairing."""
    event_delay_ms: float = Field(default=0, ge=0)
    """Delay before a notification is published, through the injected sleep."""

    @field_validator("users")
    @classmethod
    def _at_least_one_user(cls, users: dict[str, str]) -> dict[str, str]:
        if not users:
            raise ValueError("configure at least one user")
        return users

    def http_status(self, code: int) -> int:
        if code == 20:
            return self.unauthenticated_http_status
        return self.http_status_by_code.get(code, 400)

    def settings_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(PATCHABLE_SETTINGS))


class InteractionRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media: Media
    id: str = Field(min_length=1)
    agent: str | None = None
    state: str | None = None
    capabilities: list[str] | None = None
    user_data: dict[str, str | int] = Field(default_factory=dict)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1)
    password_change_required: bool = False


class StatusCodeInjection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status_code: int = Field(default=4, ge=1)
    times: int = Field(default=1, ge=0, description="0 = until cleared")
    http_status: int | None = Field(default=None, ge=200, le=599)
    media: Media | None = None
    message: str | None = None


@dataclass
class User:
    password: str
    password_change_required: bool = False


@dataclass
class Session:
    id: str
    user: str
    csrf_token: str
    node: str
    created_at: float


@dataclass
class Interaction:
    media: str
    id: str
    agent: str
    state: str
    capabilities: list[str]
    pairs: list[tuple[str, Scalar]] = field(default_factory=list)
    dispositions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def released(self) -> bool:
        return self.state == ENDED_STATE[self.media]

    def user_data(self) -> dict[str, Scalar]:
        return dict(self.pairs)

    def update(self, data: dict[str, Scalar]) -> None:
        """Overwrite: each key ends with exactly one pair, where it first stood."""
        for key, value in data.items():
            positions = [i for i, (name, _) in enumerate(self.pairs) if name == key]
            if not positions:
                self.pairs.append((key, value))
                continue
            self.pairs[positions[0]] = (key, value)
            for index in reversed(positions[1:]):
                del self.pairs[index]

    def attach(self, data: dict[str, Scalar]) -> None:
        """Append "regardless of whether the key(s) already exist", as GWS documents it."""
        self.pairs.extend(data.items())

    def delete_keys(self, keys: list[str]) -> None:
        doomed = set(keys)
        self.pairs = [(name, value) for name, value in self.pairs if name not in doomed]

    def end(self) -> None:
        self.state = ENDED_STATE[self.media]
        self.capabilities = []

    def vendor_view(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "userData": self.user_data(),
            "capabilities": list(self.capabilities),
            "uri": f"{base_url}/api/v2/{self.media}/{self.id}",
        }

    def control_view(self) -> dict[str, Any]:
        return {
            "media": self.media,
            "id": self.id,
            "agent": self.agent,
            "state": self.state,
            "capabilities": list(self.capabilities),
            "user_data": self.user_data(),
            "user_data_pairs": [[name, value] for name, value in self.pairs],
            "dispositions": list(self.dispositions),
        }


def default_capabilities(media: str, state: str) -> list[str]:
    if state == ENDED_STATE[media]:
        return []  # a released call lists none; a completed chat likewise
    return list(CALL_CAPABILITIES if media == "calls" else CHAT_CAPABILITIES)


class MaskingRequestLog(RequestLog):
    """The shared log hides ``Authorization``; a GWS session cookie and CSRF token are
    credentials too, so their values are masked while their names stay visible."""

    def __init__(self, clock: Clock, secret_headers: Callable[[], set[str]]) -> None:
        super().__init__(clock)
        self._secret_headers = secret_headers

    async def record(self, request: Request, status: int, received_at: float) -> None:
        await super().record(request, status, received_at)
        # No await since the append above: the last entry is this request's.
        entry = self._entries[-1]
        headers: dict[str, str] = entry["headers"]
        secret = self._secret_headers()
        for name in list(headers):
            lowered = name.lower()
            if lowered == "cookie":
                headers[name] = _mask_cookies(headers[name])
            elif lowered in secret:
                headers[name] = REDACTED


def _mask_cookies(header: str) -> str:
    names = [part.split("=", 1)[0].strip() for part in header.split(";") if part.strip()]
    return "; ".join(f"{name}={REDACTED}" for name in names)


@dataclass
class GwsSimState:
    """Everything one simulator instance remembers, kept on ``app.state.sim``."""

    config: GwsSimConfig
    clock: Clock
    sleep: Sleep
    faults: FaultInjector
    requests: RequestLog
    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    interactions: dict[tuple[str, str], Interaction] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.restore_users()

    def restore_users(self) -> None:
        self.users = {name: User(password) for name, password in self.config.users.items()}

    def open_session(self, user: str) -> Session:
        session = Session(
            id=secrets.token_hex(16).upper(),
            user=user,
            csrf_token=secrets.token_urlsafe(24),
            node=f"node-{secrets.token_hex(4)}",
            created_at=self.clock(),
        )
        self.sessions[session.id] = session
        return session

    def expire_sessions(self) -> int:
        count = len(self.sessions)
        self.sessions.clear()
        return count

    async def publish(self, event: dict[str, Any]) -> None:
        if self.config.event_delay_ms:
            await self.sleep(self.config.event_delay_ms / 1000)
        async with self.events_changed:
            self.events.append(
                {"seq": len(self.events) + 1, "time": iso_time(self.clock()), **event}
            )
            self.events_changed.notify_all()

    def reset(self) -> None:
        self.interactions.clear()
        self.sessions.clear()
        self.events.clear()
        self.restore_users()
        self.faults.reset()
        self.requests.clear()


class Refused(Exception):
    """A vendor answer other than success, raised from deep helpers and returned by the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _state_of(app: FastAPI) -> GwsSimState:
    return cast(GwsSimState, app.state.sim)


def _state(request: Request) -> GwsSimState:
    return _state_of(request.app)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _status(
    sim: GwsSimState, code: int, message: str, headers: dict[str, str] | None = None
) -> Refused:
    body = {"statusCode": code, "statusMessage": message}
    return Refused(JSONResponse(body, status_code=sim.config.http_status(code), headers=headers))


# --- authentication, sessions and CSRF ---------------------------------------------------------


def _known_session(request: Request, sim: GwsSimState) -> Session | None:
    """The live session the cookies point at, as the node the request reached sees it."""
    session = sim.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        return None
    lb_cookie = sim.config.lb_cookie
    if lb_cookie is not None and request.cookies.get(lb_cookie) != session.node:
        return None
    return session


def _unauthenticated(sim: GwsSimState) -> Refused:
    return _status(
        sim,
        20,
        "Access denied: user is not authenticated",
        headers={"WWW-Authenticate": 'Basic realm="Genesys Web Services"'},
    )


def _authenticate(request: Request, sim: GwsSimState, session: Session | None) -> str:
    """Basic credentials win when present (and must be right); otherwise the session's user."""
    header = request.headers.get("authorization")
    if header is not None:
        given = basic_credentials(header)
        user = sim.users.get(given[0]) if given else None
        if (
            given is None
            or user is None
            or not hmac.compare_digest(user.password.encode(), given[1].encode())
        ):
            raise _unauthenticated(sim)
        name = given[0]
    elif session is not None:
        name = session.user
    else:
        raise _unauthenticated(sim)
    account = sim.users.get(name)
    if account is None:
        raise _unauthenticated(sim)
    if account.password_change_required:
        raise _status(sim, 8, "Change password demanded")
    return name


def _check_csrf(request: Request, sim: GwsSimState, session: Session | None) -> None:
    if not sim.config.csrf_protection:
        return
    token = request.headers.get(sim.config.csrf_header_name, "")
    if session is None or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
        raise Refused(PlainTextResponse(CSRF_REFUSAL, status_code=403))


def _with_session(response: Response, sim: GwsSimState, session: Session, fresh: bool) -> Response:
    """A new session sets its cookies; with CSRF on, every answer names the header and token."""
    if fresh:
        response.set_cookie(SESSION_COOKIE, session.id, path="/", httponly=True)
        if sim.config.lb_cookie is not None:
            response.set_cookie(sim.config.lb_cookie, session.node, path="/", max_age=3600)
    if sim.config.csrf_protection:
        response.headers["X-CSRF-HEADER"] = sim.config.csrf_header_name
        response.headers["X-CSRF-TOKEN"] = session.csrf_token
    return response


def _enter(request: Request, sim: GwsSimState, *, write: bool) -> tuple[str, Session, bool]:
    """Run the security filters in the real server's order; returns (user, session, fresh)."""
    session = _known_session(request, sim)
    if write:
        _check_csrf(request, sim, session)
    user = _authenticate(request, sim, session)
    if session is not None and session.user == user:
        return user, session, False
    return user, sim.open_session(user), True


# --- reads -------------------------------------------------------------------------------------


async def get_me(request: Request) -> Response:
    sim = _state(request)
    try:
        user, session, fresh = _enter(request, sim, write=False)
    except Refused as refused:
        return refused.response
    body = {
        "statusCode": 0,
        "user": {"id": user, "userName": user, "uri": f"{_base_url(request)}/api/v2/users/{user}"},
    }
    return _with_session(JSONResponse(body), sim, session, fresh)


def _media_routes(media: str) -> tuple[Callable[..., Coroutine[Any, Any, Response]], ...]:
    async def list_interactions(request: Request) -> Response:
        sim = _state(request)
        try:
            user, session, fresh = _enter(request, sim, write=False)
        except Refused as refused:
            return refused.response
        owned = [
            i.vendor_view(_base_url(request))
            for i in sim.interactions.values()
            if i.media == media and i.agent == user
        ]
        return _with_session(JSONResponse({"statusCode": 0, media: owned}), sim, session, fresh)

    async def get_interaction(request: Request, interaction_id: str) -> Response:
        sim = _state(request)
        try:
            user, session, fresh = _enter(request, sim, write=False)
            interaction = _owned(sim, media, interaction_id, user, create=False)
        except Refused as refused:
            return refused.response
        body = {"statusCode": 0, SINGULAR[media]: interaction.vendor_view(_base_url(request))}
        return _with_session(JSONResponse(body), sim, session, fresh)

    async def operate(request: Request, interaction_id: str) -> Response:
        sim = _state(request)
        try:
            user, session, fresh = _enter(request, sim, write=True)
            body = await _operation_body(request, sim)
            interaction = _owned(sim, media, interaction_id, user, create=True)
            notify = _apply(sim, interaction, body)
        except Refused as refused:
            return refused.response
        task = None
        if notify:
            event = _notification(interaction, _base_url(request))
            task = BackgroundTask(sim.publish, event)
        response = JSONResponse({"statusCode": 0}, background=task)
        return _with_session(response, sim, session, fresh)

    return list_interactions, get_interaction, operate


def _owned(
    sim: GwsSimState, media: str, interaction_id: str, user: str, *, create: bool
) -> Interaction:
    interaction = sim.interactions.get((media, interaction_id))
    if interaction is None and create and sim.config.auto_create:
        interaction = _new_interaction(media, interaction_id, user, None, None)
        sim.interactions[(media, interaction_id)] = interaction
    if interaction is None or interaction.agent != user:
        # Another agent's interaction is as invisible under /me as one that does not exist.
        raise _status(sim, 6, f"{SINGULAR[media]} {interaction_id} not found")
    return interaction


def _new_interaction(
    media: str, interaction_id: str, agent: str, state: str | None, capabilities: list[str] | None
) -> Interaction:
    state = state or LIVE_STATE[media]
    if capabilities is None:
        capabilities = default_capabilities(media, state)
    return Interaction(media, interaction_id, agent, state, list(capabilities))


# --- operations --------------------------------------------------------------------------------


async def _operation_body(request: Request, sim: GwsSimState) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _status(sim, 1, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _status(sim, 1, "request body must be a JSON object")
    if not isinstance(body.get("operationName"), str) or not body["operationName"]:
        raise _status(sim, 1, "operationName is required")
    return body


def _user_data_param(sim: GwsSimState, body: dict[str, Any]) -> dict[str, Scalar]:
    data = body.get("userData")
    if not isinstance(data, dict):
        raise _status(sim, 1, "userData is required and must be an object")
    if not sim.config.strict_values:
        return data
    for key, value in data.items():
        if not key:
            raise _status(sim, 1, "userData keys must not be empty")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _status(sim, 1, f"userData value of {key!r} must be a string or an integer")
        if isinstance(value, int) and not INT32_MIN <= value <= INT32_MAX:
            raise _status(sim, 10, f"userData value of {key!r} is out of the integer range")
    return data


def _string_param(sim: GwsSimState, body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _status(sim, 1, f"{name} is required")
    return value


def _keys_param(sim: GwsSimState, body: dict[str, Any]) -> list[str]:
    keys = body.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise _status(sim, 1, "keys is required and must be a list of strings")
    return keys


def _apply(sim: GwsSimState, interaction: Interaction, body: dict[str, Any]) -> bool:
    """Validate and perform one operation; returns whether a notification follows."""
    operation: str = body["operationName"]
    media = interaction.media
    if operation not in OPERATIONS[media]:
        raise _status(sim, 1, f"operationName {operation!r} is not supported on {media}")
    if operation == "SetCallDisposition":
        return _set_disposition(sim, interaction, body)
    if operation in ("UpdateUserData", "AttachUserData"):
        data = _user_data_param(sim, body)
        _require_capability(sim, interaction, operation)
        (interaction.update if operation == "UpdateUserData" else interaction.attach)(data)
    elif operation == "DeleteUserDataPair":
        key = _string_param(sim, body, "key")
        _require_capability(sim, interaction, operation)
        interaction.delete_keys([key])
    elif media == "calls":  # DeleteUserData on a call: everything
        _require_capability(sim, interaction, operation)
        interaction.pairs.clear()
    else:  # DeleteUserData on a chat or SMS session: the listed keys
        keys = _keys_param(sim, body)
        _require_capability(sim, interaction, operation)
        interaction.delete_keys(keys)
    return True


def _require_capability(sim: GwsSimState, interaction: Interaction, operation: str) -> None:
    if operation not in interaction.capabilities:
        raise _status(
            sim,
            2,
            f"{operation} is not valid for {SINGULAR[interaction.media]} {interaction.id} "
            f"in state {interaction.state}",
        )


def _set_disposition(sim: GwsSimState, interaction: Interaction, body: dict[str, Any]) -> bool:
    """On a released call the disposition goes to reporting as a user event, silently."""
    disposition = _string_param(sim, body, "disposition")
    key = body.get("dispositionKey") or DEFAULT_DISPOSITION_KEY
    if not isinstance(key, str):
        raise _status(sim, 1, "dispositionKey must be a string")
    if interaction.released:
        interaction.dispositions.append(
            {"key": key, "disposition": disposition, "time": iso_time(sim.clock())}
        )
        return False
    _require_capability(sim, interaction, "SetCallDisposition")
    interaction.dispositions.append(
        {"key": key, "disposition": disposition, "time": iso_time(sim.clock())}
    )
    interaction.update({key: disposition})
    return True


def _notification(interaction: Interaction, base_url: str) -> dict[str, Any]:
    media = interaction.media
    message_type = {
        "calls": "CallStateChanged",
        "chats": "ChatStateChanged",
        "smssessions": "SMSsessionStateChangeMessage",
    }[media]
    notification = "AttachedDataChanged" if media == "calls" else "PropertiesUpdated"
    return {
        "channel": f"/v2/me/{media}",
        "data": {
            "messageType": message_type,
            "notificationType": notification,
            SINGULAR[media]: interaction.vendor_view(base_url),
        },
    }


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["Genesys GWS"])
    router.add_api_route(API_PREFIX, get_me, methods=["GET"])
    for media in MEDIA:
        list_interactions, get_interaction, operate = _media_routes(media)
        base = f"{API_PREFIX}/{media}"
        router.add_api_route(base, list_interactions, methods=["GET"])
        router.add_api_route(base + "/{interaction_id}", get_interaction, methods=["GET"])
        router.add_api_route(base + "/{interaction_id}", operate, methods=["POST"])
    return router


# --- control surface ---------------------------------------------------------------------------


def _known_interaction(sim: GwsSimState, media: str, interaction_id: str) -> Interaction:
    interaction = sim.interactions.get((media, interaction_id))
    if interaction is None:
        raise HTTPException(404, f"{media}/{interaction_id} not registered")
    return interaction


async def register_interaction(
    request: Request, registration: InteractionRegistration
) -> dict[str, Any]:
    sim = _state(request)
    agent = registration.agent or next(iter(sim.config.users))
    interaction = _new_interaction(
        registration.media,
        registration.id,
        agent,
        registration.state,
        registration.capabilities,
    )
    interaction.pairs = list(registration.user_data.items())
    sim.interactions[(interaction.media, interaction.id)] = interaction
    return interaction.control_view()


async def list_interactions(request: Request) -> list[dict[str, Any]]:
    return [i.control_view() for i in _state(request).interactions.values()]


async def get_interaction(request: Request, media: Media, interaction_id: str) -> dict[str, Any]:
    return _known_interaction(_state(request), media, interaction_id).control_view()


async def release_call(request: Request, interaction_id: str) -> dict[str, Any]:
    interaction = _known_interaction(_state(request), "calls", interaction_id)
    interaction.end()
    return interaction.control_view()


async def complete_session(request: Request, media: Media, interaction_id: str) -> dict[str, Any]:
    if media == "calls":
        raise HTTPException(409, "calls are released, not completed")
    interaction = _known_interaction(_state(request), media, interaction_id)
    interaction.end()
    return interaction.control_view()


async def list_events(
    request: Request,
    min_count: Annotated[int, Query(ge=0)] = 0,
    timeout: Annotated[float, Query(ge=0, le=60)] = 5.0,
) -> list[dict[str, Any]]:
    """Waits on a condition, not a timer: the answer comes as soon as enough events exist."""
    sim = _state(request)
    async with sim.events_changed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                sim.events_changed.wait_for(lambda: len(sim.events) >= min_count), timeout
            )
        return list(sim.events)


async def clear_events(request: Request) -> Response:
    _state(request).events.clear()
    return Response(status_code=204)


async def list_sessions(request: Request) -> list[dict[str, Any]]:
    return [
        {"user": s.user, "created_at": iso_time(s.created_at)}
        for s in _state(request).sessions.values()
    ]


async def expire_sessions(request: Request) -> dict[str, int]:
    return {"expired": _state(request).expire_sessions()}


async def put_user(request: Request, username: str, update: UserUpdate) -> dict[str, Any]:
    sim = _state(request)
    sim.users[username] = User(update.password, update.password_change_required)
    return {"username": username, "password_change_required": update.password_change_required}


async def inject_status_code(request: Request, injection: StatusCodeInjection) -> dict[str, Any]:
    sim = _state(request)
    code = injection.status_code
    rule = FaultRule(
        method="POST",
        path_prefix=f"{API_PREFIX}/{injection.media or ''}",
        status=injection.http_status or sim.config.http_status(code),
        times=injection.times,
        body={
            "statusCode": code,
            "statusMessage": injection.message or f"simulated statusCode {code}",
        },
    )
    return sim.faults.add(rule)


def _mount_control_routes(app: FastAPI) -> None:
    add_control_route(app, "/_sim/interactions", register_interaction, "POST", status_code=201)
    add_control_route(app, "/_sim/interactions", list_interactions, "GET")
    add_control_route(app, "/_sim/interactions/{media}/{interaction_id}", get_interaction, "GET")
    add_control_route(
        app, "/_sim/interactions/calls/{interaction_id}/release", release_call, "POST"
    )
    add_control_route(
        app, "/_sim/interactions/{media}/{interaction_id}/complete", complete_session, "POST"
    )
    add_control_route(app, "/_sim/events", list_events, "GET")
    add_control_route(app, "/_sim/events", clear_events, "DELETE")
    add_control_route(app, "/_sim/sessions", list_sessions, "GET")
    add_control_route(app, "/_sim/sessions/expire", expire_sessions, "POST")
    add_control_route(app, "/_sim/users/{username}", put_user, "PUT")
    add_control_route(app, "/_sim/status-codes", inject_status_code, "POST", status_code=201)
    mount_config_routes(
        app,
        state=_state,
        view=GwsSimConfig.settings_view,
        refuse=refuse_unpatchable(PATCHABLE_SETTINGS),
    )


def create_app(
    config: GwsSimConfig | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> FastAPI:
    """Build one independent simulator; ``clock`` and ``sleep`` are injectable for tests."""
    app = simulator_app("Genesys Web Services API v2 simulator", __doc__)

    def secret_headers() -> set[str]:
        return {_state_of(app).config.csrf_header_name.lower(), "x-csrf-token"}

    faults = FaultInjector(sleep=sleep)
    log = MaskingRequestLog(clock, secret_headers)
    return mount_simulator(
        app,
        GwsSimState(
            config=config or GwsSimConfig(), clock=clock, sleep=sleep, faults=faults, requests=log
        ),
        faults=faults,
        log=log,
        vendor=_vendor_router(faults, log),
        control=_mount_control_routes,
    )
