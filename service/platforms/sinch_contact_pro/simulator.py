"""Sinch Contact Pro CMI ``/contactData`` simulator.

A local double that enforces what the enricher's Sinch client has to get right against the real
platform: Basic auth with an API user plus an API key header, the user's rights on the
contact's queue, phone and chat only, writes only once the contact is disconnected, and keys
that are XML names on the channel's ExtraDataForHistory allow-list. Sinch documents neither
the CMI error bodies nor the exact status of every refusal, so those are settings
(``SinchSimConfig``), and so is how long Sinch's contact status lags behind the close event.

Vendor surface (faults and latency apply first; every call is recorded in the request log with
the ``Authorization`` and API-key headers redacted):

- ``POST /RI/cmi/contactData`` with ``{"id": "<contact id>", "attachedData": {key: value}}``
  adds or updates the contact's attached data (keys merge; a repeated key takes the new
  value). Checked in this order: API key header (401 ``invalid_api_key``), Basic API user (401
  ``unauthorized``; 401 ``password_expired`` for an expired password), JSON content type (415
  ``unsupported_media_type``), body (400 ``invalid_body``: not JSON, not an object, ``id`` not a
  non-empty string, ``attachedData`` missing or not an object), contact (404 ``not_found``),
  MANAGE_CONTACTS on the contact's queue (403 ``forbidden``), channel (400
  ``channel_not_supported`` for email and sms), status (``not_disconnected_status``, default
  400, ``contact_not_disconnected``), keys (400 ``invalid_key_name`` when not an XML element
  name, 400 ``key_not_allowed`` when not on the channel's ExtraDataForHistory list), values
  (400 ``invalid_value`` for null, objects and arrays). Success is ``success_status``: 201 with
  ``Location`` and ``{"id"}`` (default, the RI rule for POST), 200 with ``{"id"}``, or 204.
- ``GET /RI/cmi/contactData/{contact_id}`` -> ``{"id", "attachedData"}`` with only the keys
  the channel's ExtraDataForHistory list stores (history); needs STATISTICS_DETAILS on the
  contact's queue (403), 404 for an unknown contact.

Error bodies follow ``refusal_body``. ``coded`` (the default) is ``{"error": <code>,
"message": <text>}``, plus ``"keys": [...]`` naming the offending keys for
``invalid_key_name``, ``key_not_allowed`` and ``invalid_value``. The others carry only the
wording, as a platform that documents no error body may: ``error_text`` ``{"error": <text>}``,
``error_page`` a servlet-style page ``{"timestamp", "status", "error": <reason phrase>,
"message": <text>, "path"}``, ``nested`` ``{"errors": [{"status", "detail": <text>}]}`` and
``plain_text`` the text alone as ``text/plain``.

Status lag: with ``status_lag_seconds`` above zero, a contact that turned disconnected (was
registered with, or changed to, a disconnected status) is still shown as ``Connected``, and
refused as such, for that many seconds, as Sinch can be when the close event outruns it.

Control surface (no auth, not faulted, not logged):

- ``POST /_sim/contacts`` ``{"id", "channel": voice|chat|email|sms (default voice), "status"
  (default Handled), "queue" (default ``default``), "attached_data" (data attached during the
  contact, default none)}`` -> 201 with the contact; an existing id is replaced.
- ``GET /_sim/contacts``; ``GET /_sim/contacts/{id}`` -> ``{"id", "channel", "status",
  "queue", "attached_data"}`` (every key, history or not; ``status`` as Sinch shows it now,
  so ``Connected`` during a status lag) or 404; ``PATCH /_sim/contacts/{id}``
  with any of ``status``, ``queue``, ``channel`` -> the contact.
- ``GET /_sim/users`` -> the API users without passwords; ``PUT /_sim/users/{username}``
  ``{"password", "manage_contacts": [queues], "statistics_details": [queues],
  "password_expired"}`` (``*`` = every queue) creates or replaces a user (a password rotation);
  ``POST /_sim/users/{username}/expire-password`` makes its password expired.
- ``GET /_sim/api-keys`` -> ``{"required", "count"}``; ``PUT /_sim/api-keys`` ``{"keys":
  [...]}`` replaces the accepted keys at once (``null``: no key required, as on premise).
- ``GET /_sim/config`` -> the settings below; ``PATCH /_sim/config`` with any subset of
  ``api_key_header``, ``extra_data_for_history``, ``disconnected_statuses``,
  ``not_disconnected_status``, ``success_status``, ``auto_create_contacts``,
  ``require_json_content_type``, ``status_lag_seconds``, ``refusal_body`` -> the updated
  settings, or 422.
- ``POST /_sim/reset`` -> 204; clears contacts, faults, latency and the request log and puts
  users and API keys back to the configured ones (the configuration stays).
- ``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``: see ``service.simulators.faults``.
"""

import asyncio
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal, cast
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from service.simulators.app import mount_simulator, simulator_app
from service.simulators.faults import (
    REDACTED,
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

DEV_USERNAME = "enricher-api"
DEV_PASSWORD = "dev-api-password"  # noqa: S105 - public dev-mode credential
DEV_API_KEY = "dev-api-key"
DEFAULT_API_KEY_HEADER = "X-Api-Key"
DEFAULT_QUEUE = "default"
ALL = "*"
CONTACT_DATA_PATH = "/RI/cmi/contactData"
DISCONNECTED_STATUSES = ("WrapUp", "Handled", "Abandoned", "Deleted")
PATCHABLE_SETTINGS = frozenset(
    {
        "api_key_header",
        "extra_data_for_history",
        "disconnected_statuses",
        "not_disconnected_status",
        "success_status",
        "auto_create_contacts",
        "require_json_content_type",
        "status_lag_seconds",
        "refusal_body",
    }
)
LAGGING_STATUS = "Connected"
"""What a contact whose disconnect Sinch has not caught up with is shown as."""

Scalar = str | bool | int | float
Channel = Literal["voice", "chat", "email", "sms"]
HistoryChannel = Literal["voice", "chat"]
RefusalBody = Literal["coded", "error_text", "error_page", "nested", "plain_text"]
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]

_XML_NAME = re.compile(r"^(?![Xx][Mm][Ll])[^\W\d][\w.-]*$")
"""An XML element name without a namespace prefix (letters, ``_``, then also digits, ``-`` and
``.``); written here rather than imported so the double does not share the client's rule."""


def _sorted(values: frozenset[str]) -> list[str]:
    return sorted(values)


class ApiUser(BaseModel):
    """A Sinch Contact Pro user the RI is called as; rights are per queue (``*`` = all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    password: str = Field(min_length=1)
    manage_contacts: frozenset[str] = frozenset({ALL})
    """Queues on which the user may add attached data."""
    statistics_details: frozenset[str] = frozenset({ALL})
    """Queues whose contacts' data the user may read."""
    password_expired: bool = False

    @field_serializer("manage_contacts", "statistics_details")
    def _sorted_queues(self, queues: frozenset[str]) -> list[str]:
        return _sorted(queues)

    def view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"password"})


def _may(queues: frozenset[str], queue: str) -> bool:
    return ALL in queues or queue in queues


def _dev_users() -> dict[str, ApiUser]:
    return {DEV_USERNAME: ApiUser(password=DEV_PASSWORD)}


def _store_everything() -> dict[HistoryChannel, list[str]]:
    return {"voice": [ALL], "chat": [ALL]}


class SinchSimConfig(BaseModel):
    """Simulator settings; the defaults make a ready-to-use dev-mode tenant that accepts any
    key and creates unknown contacts, because the dev traffic generator invents contact ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: dict[str, ApiUser] = Field(default_factory=_dev_users)
    api_keys: frozenset[str] | None = frozenset({DEV_API_KEY})
    """Accepted API keys; ``None`` means none is required (an on-premise installation)."""
    api_key_header: HeaderName = DEFAULT_API_KEY_HEADER
    extra_data_for_history: dict[HistoryChannel, list[str]] = Field(
        default_factory=_store_everything
    )
    """Per channel, the keys stored for history (``*`` = all); a channel left out stores
    nothing, which is Sinch's own default."""
    disconnected_statuses: tuple[str, ...] = DISCONNECTED_STATUSES
    not_disconnected_status: int = Field(default=400, ge=400, le=599)
    success_status: Literal[200, 201, 204] = 201
    auto_create_contacts: bool = True
    require_json_content_type: bool = True
    status_lag_seconds: float = Field(default=0, ge=0)
    """How long a contact that turned disconnected is still shown (and refused) as
    ``Connected``: the lag between the close event and Sinch's own contact status."""
    refusal_body: RefusalBody = "coded"
    """The wrapping of error bodies; every one but ``coded`` carries the wording alone."""

    @field_serializer("api_keys")
    def _sorted_keys(self, keys: frozenset[str] | None) -> list[str] | None:
        return None if keys is None else _sorted(keys)

    def settings_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(PATCHABLE_SETTINGS))

    def history_keys(self, channel: Channel) -> list[str]:
        lists = self.extra_data_for_history.items()
        return next((keys for name, keys in lists if name == channel), [])


class ContactRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    channel: Channel = "voice"
    status: str = Field(default="Handled", min_length=1)
    queue: str = Field(default=DEFAULT_QUEUE, min_length=1)
    attached_data: dict[str, Scalar] = Field(default_factory=dict)


class ContactChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    status: str | None = Field(default=None, min_length=1)
    queue: str | None = Field(default=None, min_length=1)


class ApiKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[Annotated[str, Field(min_length=1)]] | None


@dataclass
class Contact:
    id: str
    channel: Channel
    status: str
    queue: str
    attached_data: dict[str, Scalar] = field(default_factory=dict)
    status_since: float = 0.0
    """Clock reading of the last status change, from which a status lag is counted."""

    def shown_status(self, config: SinchSimConfig, now: float) -> str:
        """The status Sinch shows: a fresh disconnect is not seen until the lag has passed."""
        lagging = now < self.status_since + config.status_lag_seconds
        if lagging and self.status in config.disconnected_statuses:
            return LAGGING_STATUS
        return self.status

    def change_status(self, status: str, now: float) -> None:
        if status != self.status:
            self.status = status
            self.status_since = now

    def view(self, config: SinchSimConfig, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "status": self.shown_status(config, now),
            "queue": self.queue,
            "attached_data": dict(self.attached_data),
        }


class _CredentialRedactingLog(RequestLog):
    """The shared log drops ``Authorization``; the API key travels in a header whose name is a
    setting, so it is masked here, and so is any header carrying a key this simulator has
    ever accepted (a client sending it under the wrong name must not leak it either)."""

    def __init__(self, clock: Clock, sim: "SinchSimState | None" = None) -> None:
        super().__init__(clock)
        self.sim = sim

    async def record(self, request: Request, status: int, received_at: float) -> None:
        await super().record(request, status, received_at)
        if self.sim is None:
            return
        # No await since the append, so the last entry is this request's.
        headers: dict[str, str] = self._entries[-1]["headers"]
        secret_name = self.sim.config.api_key_header.lower()
        for name, value in headers.items():
            if name == secret_name or value in self.sim.known_api_keys:
                headers[name] = REDACTED


@dataclass
class SinchSimState:
    """Everything one simulator instance remembers, kept on ``app.state.sim``."""

    config: SinchSimConfig
    clock: Clock
    faults: FaultInjector
    requests: RequestLog
    users: dict[str, ApiUser] = field(init=False)
    api_keys: frozenset[str] | None = field(init=False)
    known_api_keys: set[str] = field(default_factory=set)
    contacts: dict[str, Contact] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._restore_credentials()

    def _restore_credentials(self) -> None:
        self.users = dict(self.config.users)
        self.set_api_keys(self.config.api_keys)

    def set_api_keys(self, keys: frozenset[str] | None) -> None:
        self.api_keys = keys
        self.known_api_keys.update(keys or ())

    def reset(self) -> None:
        self.contacts.clear()
        self._restore_credentials()
        self.faults.reset()
        self.requests.clear()


class Rejected(Exception):
    """A vendor error response, raised from deep helpers and returned by the route."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        keys: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body: dict[str, Any] = {"error": error, "message": message}
        if keys is not None:
            self.body["keys"] = keys
        self.headers = headers or {}

    def response(self, sim: SinchSimState, request: Request) -> Response:
        """The refusal in the configured wrapping; only ``coded`` names the code."""
        shape = sim.config.refusal_body
        status, headers = self.status, self.headers
        if shape == "plain_text":
            return PlainTextResponse(self.message, status_code=status, headers=headers)
        wrapped: dict[str, Any] = self.body
        if shape == "error_text":
            wrapped = {"error": self.message}
        elif shape == "error_page":
            wrapped = {
                "timestamp": iso_time(sim.clock()),
                "status": status,
                "error": HTTPStatus(status).phrase,
                "message": self.message,
                "path": request.url.path,
            }
        elif shape == "nested":
            wrapped = {"errors": [{"status": str(status), "detail": self.message}]}
        return JSONResponse(wrapped, status_code=status, headers=headers)


def _state(request: Request) -> SinchSimState:
    return cast(SinchSimState, request.app.state.sim)


# --- authentication ----------------------------------------------------------------------------


def _same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _check_api_key(request: Request, sim: SinchSimState) -> None:
    if sim.api_keys is None:
        return
    given = request.headers.get(sim.config.api_key_header)
    if given is None or not any(_same_secret(key, given) for key in sim.api_keys):
        raise Rejected(
            401, "invalid_api_key", f"a valid API key is required in {sim.config.api_key_header}"
        )


def authenticate(request: Request, sim: SinchSimState) -> ApiUser:
    """API key first (the cloud gateway's check), then the API user. Expiry is only told to
    a caller who knows the password, as a real login would."""
    _check_api_key(request, sim)
    credentials = basic_credentials(request.headers.get("authorization", ""))
    user = None if credentials is None else sim.users.get(credentials[0])
    if credentials is None or user is None or not _same_secret(user.password, credentials[1]):
        raise Rejected(
            401,
            "unauthorized",
            "invalid user name or password",
            headers={"WWW-Authenticate": 'Basic realm="Sinch Contact Pro"'},
        )
    if user.password_expired:
        raise Rejected(401, "password_expired", "the user's password has expired")
    return user


# --- contact data ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _bad_body(message: str) -> Rejected:
    return Rejected(400, "invalid_body", message)


def parse_contact_data(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The documented body, checked in order; raises ``Rejected`` (400)."""
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _bad_body(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _bad_body("body must be a JSON object with id and attachedData")
    contact_id = doc.get("id")
    if not isinstance(contact_id, str) or not contact_id:
        raise _bad_body("id is required and must be a non-empty string")
    if "attachedData" not in doc:
        raise _bad_body("attachedData is required")
    data = doc["attachedData"]
    if not isinstance(data, dict):
        raise _bad_body("attachedData must be a JSON object")
    return contact_id, data


async def _read_contact_data(
    request: Request, config: SinchSimConfig
) -> tuple[str, dict[str, Any]]:
    content_type = media_type(request)
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if config.require_json_content_type and not is_json:
        raise Rejected(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {content_type!r}",
        )
    return parse_contact_data(await request.body())


def _contact(sim: SinchSimState, contact_id: str, *, create: bool) -> Contact:
    contact = sim.contacts.get(contact_id)
    if contact is None and create and sim.config.auto_create_contacts:
        contact = Contact(contact_id, "voice", "Handled", DEFAULT_QUEUE, status_since=sim.clock())
        sim.contacts[contact_id] = contact
    if contact is None:
        raise Rejected(404, "not_found", f"contact {contact_id} not found")
    return contact


def _check_writable(contact: Contact, config: SinchSimConfig, now: float) -> None:
    if contact.channel not in ("voice", "chat"):
        raise Rejected(
            400,
            "channel_not_supported",
            f"only phone and chat channels are supported, not {contact.channel}",
        )
    status = contact.shown_status(config, now)
    if status not in config.disconnected_statuses:
        raise Rejected(
            config.not_disconnected_status,
            "contact_not_disconnected",
            f"contact {contact.id} is in status {status}, not in a disconnected state "
            f"({', '.join(config.disconnected_statuses)})",
        )


def check_attached_data(data: dict[str, Any], allowed: list[str]) -> None:
    """Key names, then the allow-list, then value types; raises ``Rejected`` (400)."""
    malformed = [key for key in data if not _XML_NAME.match(key)]
    if malformed:
        raise Rejected(
            400,
            "invalid_key_name",
            f"not valid XML element names: {', '.join(map(repr, malformed))}",
            keys=malformed,
        )
    if ALL not in allowed:
        refused = [key for key in data if key not in allowed]
        if refused:
            raise Rejected(
                400,
                "key_not_allowed",
                f"keys not in ExtraDataForHistory: {', '.join(refused)}",
                keys=refused,
            )
    not_scalar = [
        key for key, value in data.items() if value is None or isinstance(value, dict | list)
    ]
    if not_scalar:
        raise Rejected(
            400,
            "invalid_value",
            f"values must be strings, numbers or booleans: {', '.join(not_scalar)}",
            keys=not_scalar,
        )


def _success(request: Request, config: SinchSimConfig, contact_id: str) -> Response:
    if config.success_status == 204:
        return Response(status_code=204)
    if config.success_status == 200:
        return JSONResponse({"id": contact_id})
    location = (
        f"{str(request.base_url).rstrip('/')}{CONTACT_DATA_PATH}/{quote(contact_id, safe='')}"
    )
    return JSONResponse({"id": contact_id}, status_code=201, headers={"Location": location})


async def post_contact_data(request: Request) -> Response:
    sim = _state(request)
    try:
        user = authenticate(request, sim)
        contact_id, data = await _read_contact_data(request, sim.config)
        contact = _contact(sim, contact_id, create=True)
        if not _may(user.manage_contacts, contact.queue):
            raise Rejected(
                403, "forbidden", f"MANAGE_CONTACTS is required on queue {contact.queue}"
            )
        _check_writable(contact, sim.config, sim.clock())
        check_attached_data(data, sim.config.history_keys(contact.channel))
    except Rejected as rejected:
        return rejected.response(sim, request)
    contact.attached_data.update(cast(dict[str, Scalar], data))
    return _success(request, sim.config, contact_id)


async def get_contact_data(request: Request, contact_id: str) -> Response:
    sim = _state(request)
    try:
        user = authenticate(request, sim)
        contact = _contact(sim, contact_id, create=False)
        if not _may(user.statistics_details, contact.queue):
            raise Rejected(
                403, "forbidden", f"STATISTICS_DETAILS is required on queue {contact.queue}"
            )
    except Rejected as rejected:
        return rejected.response(sim, request)
    allowed = sim.config.history_keys(contact.channel)
    history = {k: v for k, v in contact.attached_data.items() if ALL in allowed or k in allowed}
    return JSONResponse({"id": contact.id, "attachedData": history})


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["Sinch Contact Pro"])
    router.add_api_route(CONTACT_DATA_PATH, post_contact_data, methods=["POST"], status_code=201)
    router.add_api_route(CONTACT_DATA_PATH + "/{contact_id}", get_contact_data, methods=["GET"])
    return router


# --- control surface ---------------------------------------------------------------------------


def _known_contact(sim: SinchSimState, contact_id: str) -> Contact:
    contact = sim.contacts.get(contact_id)
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not registered")
    return contact


def _known_user(sim: SinchSimState, username: str) -> ApiUser:
    user = sim.users.get(username)
    if user is None:
        raise HTTPException(404, f"user {username} not registered")
    return user


def _view(sim: SinchSimState, contact: Contact) -> dict[str, Any]:
    return contact.view(sim.config, sim.clock())


async def register_contact(request: Request, registration: ContactRegistration) -> dict[str, Any]:
    sim = _state(request)
    contact = Contact(
        registration.id,
        registration.channel,
        registration.status,
        registration.queue,
        dict(registration.attached_data),
        status_since=sim.clock(),
    )
    sim.contacts[contact.id] = contact
    return _view(sim, contact)


async def list_contacts(request: Request) -> list[dict[str, Any]]:
    sim = _state(request)
    return [_view(sim, contact) for contact in sim.contacts.values()]


async def get_contact(request: Request, contact_id: str) -> dict[str, Any]:
    sim = _state(request)
    return _view(sim, _known_contact(sim, contact_id))


async def change_contact(
    request: Request, contact_id: str, change: ContactChange
) -> dict[str, Any]:
    sim = _state(request)
    contact = _known_contact(sim, contact_id)
    contact.channel = change.channel or contact.channel
    contact.change_status(change.status or contact.status, sim.clock())
    contact.queue = change.queue or contact.queue
    return _view(sim, contact)


async def list_users(request: Request) -> dict[str, dict[str, Any]]:
    return {name: user.view() for name, user in _state(request).users.items()}


async def put_user(request: Request, username: str, user: ApiUser) -> dict[str, Any]:
    _state(request).users[username] = user
    return user.view()


async def expire_password(request: Request, username: str) -> dict[str, Any]:
    sim = _state(request)
    expired = _known_user(sim, username).model_copy(update={"password_expired": True})
    sim.users[username] = expired
    return expired.view()


def _api_keys_view(sim: SinchSimState) -> dict[str, Any]:
    keys = sim.api_keys
    return {"required": keys is not None, "count": len(keys or ())}


async def get_api_keys(request: Request) -> dict[str, Any]:
    return _api_keys_view(_state(request))


async def put_api_keys(request: Request, keys: ApiKeys) -> dict[str, Any]:
    sim = _state(request)
    sim.set_api_keys(None if keys.keys is None else frozenset(keys.keys))
    return _api_keys_view(sim)


def _mount_control_routes(app: FastAPI) -> None:
    add_control_route(app, "/_sim/contacts", register_contact, "POST", status_code=201)
    add_control_route(app, "/_sim/contacts", list_contacts, "GET")
    add_control_route(app, "/_sim/contacts/{contact_id}", get_contact, "GET")
    add_control_route(app, "/_sim/contacts/{contact_id}", change_contact, "PATCH")
    add_control_route(app, "/_sim/users", list_users, "GET")
    add_control_route(app, "/_sim/users/{username}", put_user, "PUT")
    add_control_route(app, "/_sim/users/{username}/expire-password", expire_password, "POST")
    add_control_route(app, "/_sim/api-keys", get_api_keys, "GET")
    add_control_route(app, "/_sim/api-keys", put_api_keys, "PUT")
    mount_config_routes(
        app,
        state=_state,
        view=SinchSimConfig.settings_view,
        refuse=refuse_unpatchable(PATCHABLE_SETTINGS),
    )


def create_app(
    config: SinchSimConfig | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> FastAPI:
    """Build one independent simulator; ``clock`` and ``sleep`` are injectable for tests."""
    faults = FaultInjector(sleep=sleep)
    log = _CredentialRedactingLog(clock)
    sim = SinchSimState(config=config or SinchSimConfig(), clock=clock, faults=faults, requests=log)
    log.sim = sim
    return mount_simulator(
        simulator_app("Sinch Contact Pro CMI contactData simulator", __doc__),
        sim,
        faults=faults,
        log=log,
        vendor=_vendor_router(faults, log),
        control=_mount_control_routes,
    )
