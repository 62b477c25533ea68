"""Fault injection and request logging shared by every vendor simulator.

The enricher's retry, backoff, breaker and Retry-After handling can only be trusted if the
vendor doubles fail the way real vendors do, on demand and deterministically. This module keeps
that machinery vendor-agnostic so each simulator only describes its own API:

- ``FaultInjector``: an ordered list of ``FaultRule`` plus a global latency. Vendor routes ask
  it first (``await injector.maybe_fault(request)``) so faults pre-empt auth and validation,
  as a failing load balancer or gateway would.
- ``RequestLog``: what the client actually sent (method, path, JSON or form body, headers
  minus credentials) and what it got back, so tests can assert on the wire format.
- ``observed_route_class``: an ``APIRoute`` subclass that wires both around every vendor route.
- ``mount_fault_routes`` / ``mount_request_log_routes`` / ``mount_config_routes``: the control
  surface under ``/_sim``.

Control routes (no auth, never faulted, never logged):

- ``POST /_sim/faults`` with one ``FaultRule`` -> 201 with the stored rule (``id``,
  ``remaining``).
- ``GET /_sim/faults`` -> the active rules in match order.
- ``DELETE /_sim/faults`` -> 204; removes every rule (the global latency stays).
- ``GET /_sim/latency`` / ``PUT /_sim/latency`` ``{"ms": 100, "jitter_ms": 50}`` -> the
  global latency added to every vendor request; ``jitter_ms`` adds a uniformly random extra
  delay per request, so concurrent requests can finish in another order than they arrived,
  as they do at a real vendor behind several servers.
- ``GET /_sim/requests`` -> the request log, oldest first; ``DELETE /_sim/requests`` -> 204.
- ``GET /_sim/config`` -> the simulator's patchable settings; ``PATCH /_sim/config`` with a
  partial object -> the settings after the change, or 422 when a name may not be patched or
  the result does not validate.
- ``POST /_sim/reset`` -> 204; the simulator's state as it was at start-up.
"""

import asyncio
import base64
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

Clock = Callable[[], float]
"""Seconds since the epoch; injected so tests can move time instead of sleeping."""

Sleep = Callable[[float], Awaitable[None]]
"""Injected so latency can be asserted on without slowing the suite."""

CONTROL_PREFIX = "/_sim"
REDACTED = "***"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SECRET_FORM_FIELDS = frozenset({"password", "client_secret", "refresh_token"})
_BODYLESS_STATUSES = frozenset({204, 304})


def iso_time(epoch_seconds: float) -> str:
    """Render a clock reading the way vendor payloads and logs write timestamps."""
    text = datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class FaultRule(BaseModel):
    """One scripted misbehaviour; unset filters match everything.

    ``status`` may be omitted when ``latency_ms`` is set: the request is then delayed and
    passed through, which is how a single slow route is simulated without failing it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str | None = None
    path_prefix: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    times: int = Field(default=1, ge=0, description="0 = until cleared")
    retry_after: str | None = Field(default=None, description='seconds ("2") or an HTTP date')
    latency_ms: float | None = Field(default=None, ge=0)
    body: JsonValue | None = None
    outlives_client: bool = False
    """The vendor finishes the request even when the client has given up on it (timed out,
    disconnected), as servers behind a load balancer do: a write delayed past the client's
    timeout is still applied, later."""

    @model_validator(mode="after")
    def _does_something(self) -> "FaultRule":
        if self.status is None and self.latency_ms is None:
            raise ValueError("a fault rule needs a status, a latency_ms, or both")
        return self

    def matches(self, method: str, path: str) -> bool:
        """Filters are deliberately simple so a test reads as the rule it installs."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class _ActiveRule:
    id: int
    rule: FaultRule
    remaining: int | None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, **self.rule.model_dump(), "remaining": self.remaining}


def fault_response(rule: FaultRule) -> Response:
    """Build the response a failing vendor or gateway in front of it would send."""
    assert rule.status is not None
    headers = {} if rule.retry_after is None else {"Retry-After": rule.retry_after}
    if rule.status in _BODYLESS_STATUSES or rule.status < 200:
        return Response(status_code=rule.status, headers=headers)
    body = rule.body
    if body is None:
        body = {"error": "injected_fault", "message": f"simulated HTTP {rule.status}"}
    return JSONResponse(body, status_code=rule.status, headers=headers)


class _Untaken:
    """Marks a request whose rule was already looked up and none matched."""


NO_RULE = _Untaken()


class FaultInjector:
    """Ordered fault rules and a global latency, shared by one simulator instance."""

    def __init__(self, *, sleep: Sleep = asyncio.sleep, rng: random.Random | None = None) -> None:
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - simulated latency, not cryptography
        self._rules: list[_ActiveRule] = []
        self._ids = count(1)
        self.latency_ms: float = 0.0
        self.jitter_ms: float = 0.0

    def add(self, rule: FaultRule) -> dict[str, Any]:
        active = _ActiveRule(next(self._ids), rule, rule.times or None)
        self._rules.append(active)
        return active.view()

    def rules(self) -> list[dict[str, Any]]:
        return [active.view() for active in self._rules]

    def clear(self) -> None:
        self._rules.clear()

    def reset(self) -> None:
        self.clear()
        self.latency_ms = 0.0
        self.jitter_ms = 0.0

    def take(self, method: str, path: str) -> FaultRule | None:
        """Consume one use of the first matching rule.

        Synchronous on purpose: with no await between match and decrement, concurrent
        requests can never both consume a rule's last use.
        """
        for active in self._rules:
            if not active.rule.matches(method, path):
                continue
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining == 0:
                    self._rules.remove(active)
            return active.rule
        return None

    async def maybe_fault(
        self, request: Request, rule: FaultRule | _Untaken | None = None
    ) -> Response | None:
        """Delay the request as configured and return the injected response, if any."""
        if rule is None:
            rule = self.take(request.method, request.url.path)
        elif isinstance(rule, _Untaken):
            rule = None
        rule_delay_ms = rule.latency_ms if rule is not None and rule.latency_ms else 0.0
        delay_ms = self.latency_ms + rule_delay_ms
        if self.jitter_ms > 0:
            delay_ms += self._rng.uniform(0.0, self.jitter_ms)
        if delay_ms > 0:
            await self._sleep(delay_ms / 1000)
        if rule is None or rule.status is None:
            return None
        return fault_response(rule)


def media_type(request: Request) -> str:
    """The bare media type, because vendors switch on it and ignore parameters."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def basic_credentials(header: str) -> tuple[str, str] | None:
    """The user and password of a Basic ``Authorization`` header, or None.

    Malformed and missing credentials both give None, so every vendor answers them with the
    same rejection it uses for wrong ones.
    """
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _json_body(raw: bytes) -> JsonValue | None:
    try:
        parsed: JsonValue = json.loads(raw)
    except ValueError:
        return None
    return parsed


def _form_body(raw: bytes) -> dict[str, str] | None:
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: REDACTED if k in _SECRET_FORM_FIELDS else v for k, v in pairs}


@dataclass
class RequestLog:
    """Bounded, so a dev-mode simulator running for hours does not grow without limit."""

    clock: Clock
    max_entries: int = 10_000
    _entries: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.max_entries)

    async def record(self, request: Request, status: int, received_at: float) -> None:
        try:
            raw = await request.body()
        except ClientDisconnect:
            raw = b""
        content_type = media_type(request)
        is_form = content_type == "application/x-www-form-urlencoded"
        self._entries.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "status": status,
                "json": None if is_form or not raw else _json_body(raw),
                "form": _form_body(raw) if is_form else None,
                "headers": {
                    k: v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS
                },
                "time": iso_time(received_at),
            }
        )

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()


_outliving: set[asyncio.Future[Response]] = set()
"""Requests finishing after their client left (``outlives_client``), kept from collection."""


def observed_route_class(injector: FaultInjector, log: RequestLog) -> type[APIRoute]:
    """Route class for vendor routes: faults first, then the handler, and log the outcome.

    Vendor handlers should return their error responses rather than raise, so the log sees
    every status; an exception that escapes is still logged (as 500) before propagating.
    """

    class ObservedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request, rule: FaultRule | _Untaken) -> Response:
                received_at = log.clock()
                status = 500
                try:
                    response = await injector.maybe_fault(request, rule)
                    if response is None:
                        response = await handler(request)
                    status = response.status_code
                    return response
                except StarletteHTTPException as exc:
                    status = exc.status_code
                    raise
                except RequestValidationError:
                    status = 422
                    raise
                finally:
                    await log.record(request, status, received_at)

            async def observed(request: Request) -> Response:
                rule = injector.take(request.method, request.url.path) or NO_RULE
                if isinstance(rule, _Untaken) or not rule.outlives_client:
                    return await handle(request, rule)
                await request.body()  # read now: the client may be gone when the handler runs
                task = asyncio.ensure_future(handle(request, rule))
                _outliving.add(task)
                task.add_done_callback(_outliving.discard)
                return await asyncio.shield(task)

            return observed

    return ObservedRoute


class LatencySetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ms: float = Field(ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)


def add_control_route(
    target: FastAPI | APIRouter,
    path: str,
    endpoint: Callable[..., Any],
    method: str,
    *,
    status_code: int | None = None,
) -> None:
    """Register a ``/_sim`` route under one OpenAPI tag, apart from the vendor surface."""
    target.add_api_route(
        path, endpoint, methods=[method], status_code=status_code, tags=["simulator control"]
    )


def mount_fault_routes(
    target: FastAPI | APIRouter, injector: FaultInjector, *, prefix: str = CONTROL_PREFIX
) -> None:
    """Expose the injector's controls; see the module docstring for the routes."""

    async def add_fault(rule: FaultRule) -> dict[str, Any]:
        return injector.add(rule)

    async def list_faults() -> list[dict[str, Any]]:
        return injector.rules()

    async def clear_faults() -> Response:
        injector.clear()
        return Response(status_code=204)

    async def get_latency() -> LatencySetting:
        return LatencySetting(ms=injector.latency_ms, jitter_ms=injector.jitter_ms)

    async def set_latency(setting: LatencySetting) -> LatencySetting:
        injector.latency_ms = setting.ms
        injector.jitter_ms = setting.jitter_ms
        return setting

    add_control_route(target, f"{prefix}/faults", add_fault, "POST", status_code=201)
    add_control_route(target, f"{prefix}/faults", list_faults, "GET")
    add_control_route(target, f"{prefix}/faults", clear_faults, "DELETE")
    add_control_route(target, f"{prefix}/latency", get_latency, "GET")
    add_control_route(target, f"{prefix}/latency", set_latency, "PUT")


def mount_request_log_routes(
    target: FastAPI | APIRouter, log: RequestLog, *, prefix: str = CONTROL_PREFIX
) -> None:
    """Expose the request log; see the module docstring for the routes."""

    async def list_requests() -> list[dict[str, Any]]:
        return log.entries()

    async def clear_requests() -> Response:
        log.clear()
        return Response(status_code=204)

    add_control_route(target, f"{prefix}/requests", list_requests, "GET")
    add_control_route(target, f"{prefix}/requests", clear_requests, "DELETE")


ConfigT = TypeVar("ConfigT", bound=BaseModel)

PatchCheck = Callable[[Mapping[str, Any]], str | None]
"""Why a config patch is refused before it is validated (the 422 detail), or None."""


class ConfigurableSim(Protocol[ConfigT]):
    """What the shared config and reset routes need from one simulator's state."""

    config: ConfigT

    def reset(self) -> None: ...


def refuse_unpatchable(patchable: AbstractSet[str]) -> PatchCheck:
    """Name every setting a patch may not touch in one answer, so a test sees them all."""

    def check(changes: Mapping[str, Any]) -> str | None:
        not_patchable = sorted(set(changes) - patchable)
        return f"not patchable: {', '.join(not_patchable)}" if not_patchable else None

    return check


def patched_config(current: ConfigT, changes: Mapping[str, Any], refuse: PatchCheck) -> ConfigT:
    """Rebuild the whole config so cross-field validators see the patched values together."""
    refusal = refuse(changes)
    if refusal is not None:
        raise HTTPException(422, refusal)
    try:
        return type(current).model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        detail = exc.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(422, detail) from exc


def mount_config_routes(
    target: FastAPI | APIRouter,
    *,
    state: Callable[[Request], ConfigurableSim[ConfigT]],
    view: Callable[[ConfigT], dict[str, Any]],
    refuse: PatchCheck,
    adopt: Callable[[Request, ConfigT], None] | None = None,
    prefix: str = CONTROL_PREFIX,
) -> None:
    """Expose a simulator's settings and reset; see the module docstring for the routes.

    ``adopt`` installs a validated config for simulators that derive state from it; by
    default the config is simply replaced.
    """

    def replace(request: Request, config: ConfigT) -> None:
        state(request).config = config

    install = adopt or replace

    async def get_settings(request: Request) -> dict[str, Any]:
        return view(state(request).config)

    async def patch_settings(
        request: Request, changes: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any]:
        config = patched_config(state(request).config, changes, refuse)
        install(request, config)
        return view(config)

    async def reset(request: Request) -> Response:
        state(request).reset()
        return Response(status_code=204)

    add_control_route(target, f"{prefix}/config", get_settings, "GET")
    add_control_route(target, f"{prefix}/config", patch_settings, "PATCH")
    add_control_route(target, f"{prefix}/reset", reset, "POST", status_code=204)
