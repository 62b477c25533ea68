"""What the conformance scenarios need to know about each platform: its tenant block, its ids,
and how to ask its simulator what it stores and to make it refuse. Everything else (events,
the service, the request log, faults) is the same for every platform."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

import httpx
from fastapi import FastAPI

from service.platforms.eight_by_eight.simulator import DEV_ACTION_TOKEN
from service.platforms.eight_by_eight.simulator import DEV_TENANT_ID as EIGHT_BY_EIGHT_TENANT
from service.platforms.genesys_gws.simulator import DEV_PASSWORD as GWS_PASSWORD
from service.platforms.genesys_gws.simulator import DEV_USERNAME as GWS_USERNAME
from service.platforms.http.simulator import HttpSimConfig
from service.platforms.nice_cxone.simulator import DEV_TENANT_ID as NICE_TENANT
from service.platforms.registry import spec_for
from service.platforms.sinch_contact_pro.simulator import DEV_API_KEY
from service.platforms.sinch_contact_pro.simulator import DEV_PASSWORD as SINCH_PASSWORD
from service.platforms.sinch_contact_pro.simulator import DEV_USERNAME as SINCH_USERNAME

__all__ = ["MORE_PLATFORMS", "PLATFORMS", "Platform"]

MORE_PLATFORMS = "ENRICHER_CONFORMANCE_PLATFORMS"
"""``module:name`` pairs, comma-separated, each a :class:`Platform` described outside this
file: a platform installed as a plug-in runs the same scenarios as the built-in ones."""

Ref = dict[str, str]
Control = httpx.AsyncClient


def _simulator(platform: str) -> Callable[..., FastAPI]:
    """The platform's simulator with its dev defaults, as its spec names it."""
    factory = spec_for(platform).simulator
    assert factory is not None, platform
    return factory


async def _ok(response: Awaitable[httpx.Response]) -> Any:
    answer = await response
    answer.raise_for_status()
    return answer.json() if answer.content else None


@dataclass(frozen=True)
class Platform:
    """One platform as the scenarios drive it."""

    name: str
    """The test id; also the tenants file's ``platform`` unless ``platform`` says otherwise."""
    window: Literal["after_close", "live"]
    app: Callable[[], FastAPI]
    block: Callable[[str], str]
    """The tenant block's YAML for a simulator at a base URL."""
    environ: Mapping[str, str]
    ref: Callable[[str], Ref]
    """The platform ids of an interaction, from a name unique to the test."""
    prepare: Callable[[Control, Ref], Awaitable[None]]
    """Make the interaction exist, so writes to it are taken."""
    stored: Callable[[Control, Ref], Awaitable[dict[str, Any]]]
    refuse: Callable[[Control, Ref], Awaitable[None]]
    """Make the vendor refuse writes to the interaction for good."""
    refused_reason: str
    write_method: str
    write_prefix: str
    names: tuple[str, str] = ("Sentiment", "Account")
    platform: str | None = None

    @property
    def platform_id(self) -> str:
        return self.platform or self.name


# --- NICE CXone --------------------------------------------------------------------------------


async def _nice_prepare(control: Control, ref: Ref) -> None:
    await _ok(control.post("/_sim/contacts", json={**_nice_contact(ref), "tenant_id": NICE_TENANT}))


def _nice_contact(ref: Ref) -> dict[str, str]:
    return {"contact_id": ref["contact_id"]}


async def _nice_stored(control: Control, ref: Ref) -> dict[str, Any]:
    answer = await control.get(f"/_sim/contacts/{ref['contact_id']}")
    if answer.status_code == 404:
        return {}
    return dict(next(iter(answer.json()["segments"].values()), {}))


async def _nice_refuse(control: Control, ref: Ref) -> None:
    # A contact of another tenant answers 404 exactly like an unknown one.
    await _ok(control.post("/_sim/contacts", json={**_nice_contact(ref), "tenant_id": "other"}))


NICE = Platform(
    name="nice-cxone",
    window="after_close",
    app=_simulator("nice-cxone"),
    block=lambda url: (
        f"""
issuer: {url}
client_id: enricher-dev
client_secret: ${{CLIENT_SECRET}}
access_key_id: ${{KEY_ID}}
access_key_secret: ${{KEY_SECRET}}
not_found_grace: 1s
"""
    ),
    environ={},
    ref=lambda name: {"contact_id": name},
    prepare=_nice_prepare,
    stored=_nice_stored,
    refuse=_nice_refuse,
    refused_reason="not_found",
    write_method="PUT",
    write_prefix="/business-data-manager",
)


# --- Sinch Contact Pro -------------------------------------------------------------------------


async def _sinch_prepare(control: Control, ref: Ref) -> None:
    body = {"id": ref["contact_id"], "channel": "voice", "status": "Handled"}
    await _ok(control.post("/_sim/contacts", json=body))


async def _sinch_stored(control: Control, ref: Ref) -> dict[str, Any]:
    answer = await control.get(f"/_sim/contacts/{ref['contact_id']}")
    return {} if answer.status_code == 404 else dict(answer.json()["attached_data"])


async def _sinch_refuse(control: Control, ref: Ref) -> None:
    del ref  # never registered, and no longer created on a write: Sinch answers 404
    await _ok(control.patch("/_sim/config", json={"auto_create_contacts": False}))


SINCH = Platform(
    name="sinch-contact-pro",
    window="after_close",
    app=_simulator("sinch-contact-pro"),
    block=lambda url: (
        f"""
base_url: {url}
username: {SINCH_USERNAME}
password: ${{SINCH_PASSWORD}}
api_key: ${{SINCH_API_KEY}}
extra_data_for_history: {{voice: ["*"], chat: ["*"]}}
"""
    ),
    environ={"SINCH_PASSWORD": SINCH_PASSWORD, "SINCH_API_KEY": DEV_API_KEY},
    ref=lambda name: {"contact_id": name},
    prepare=_sinch_prepare,
    stored=_sinch_stored,
    refuse=_sinch_refuse,
    refused_reason="not_found",
    write_method="POST",
    write_prefix="/RI/cmi/contactData",
)


# --- 8x8 ---------------------------------------------------------------------------------------


async def _eight_prepare(control: Control, ref: Ref) -> None:
    body = {"guid": ref["guid"], "tenant_id": EIGHT_BY_EIGHT_TENANT}
    await _ok(control.post("/_sim/interactions", json=body))


async def _eight_stored(control: Control, ref: Ref) -> dict[str, Any]:
    answer = await control.get(f"/_sim/interactions/{ref['guid']}")
    if answer.status_code == 404:
        return {}
    return {name: v["value"] for name, v in answer.json()["variables"].items()}


async def _eight_refuse(control: Control, ref: Ref) -> None:
    await _eight_prepare(control, ref)
    await _ok(control.post(f"/_sim/interactions/{ref['guid']}/finish"))


EIGHT_BY_EIGHT = Platform(
    name="8x8",
    window="after_close",
    app=_simulator("8x8"),
    block=lambda url: (
        f"""
base_url: {url}
tenant_id: {EIGHT_BY_EIGHT_TENANT}
action_token: ${{ACTION_TOKEN}}
"""
    ),
    environ={"ACTION_TOKEN": DEV_ACTION_TOKEN},
    ref=lambda name: {"guid": name},
    prepare=_eight_prepare,
    stored=_eight_stored,
    refuse=_eight_refuse,
    refused_reason="not_found",
    write_method="POST",
    write_prefix="/api/v1/interaction/data",
    names=("_Sentiment", "_Account"),
)


# --- Genesys GWS -------------------------------------------------------------------------------


async def _gws_prepare(control: Control, ref: Ref) -> None:
    await _ok(control.post("/_sim/interactions", json={"media": "calls", "id": ref["session_id"]}))


async def _gws_stored(control: Control, ref: Ref) -> dict[str, Any]:
    answer = await control.get(f"/_sim/interactions/calls/{ref['session_id']}")
    return {} if answer.status_code == 404 else dict(answer.json()["user_data"])


async def _gws_refuse(control: Control, ref: Ref) -> None:
    await _gws_prepare(control, ref)
    await _ok(control.post(f"/_sim/interactions/calls/{ref['session_id']}/release"))


GWS = Platform(
    name="genesys-gws",
    window="live",
    app=_simulator("genesys-gws"),
    block=lambda url: (
        f"""
base_url: {url}
username: {GWS_USERNAME}
password: ${{GWS_PASSWORD}}
"""
    ),
    environ={"GWS_PASSWORD": GWS_PASSWORD},
    ref=lambda name: {"media": "calls", "session_id": name},
    prepare=_gws_prepare,
    stored=_gws_stored,
    refuse=_gws_refuse,
    refused_reason="write_window_closed",
    write_method="POST",
    write_prefix="/api/v2/me/calls",
)


# --- the generic http platform ------------------------------------------------------------------


def _http_path(ref: Ref) -> str:
    return f"/api/records/{ref['ticket_id']}"


async def _http_prepare(control: Control, ref: Ref) -> None:
    await _ok(control.post("/_sim/records", json={"path": _http_path(ref)}))


async def _http_stored(control: Control, ref: Ref) -> dict[str, Any]:
    records: dict[str, dict[str, Any]] = await _ok(control.get("/_sim/records"))
    return records.get(_http_path(ref), {})


def _http_refuse(status: int) -> Callable[[Control, Ref], Awaitable[None]]:
    async def refuse(control: Control, ref: Ref) -> None:
        body = {"path": _http_path(ref), "status": status, "body": {"error": "gone"}}
        await _ok(control.post("/_sim/refusals", json=body))

    return refuse


def _http_block(window: str) -> Callable[[str], str]:
    """Configured like a vendor that indexes a record after its close (404 until then) and
    refuses writes once the record is archived (409)."""

    def block(url: str) -> str:
        return f"""
base_url: {url}/api
method: PUT
path: /records/{{ref.ticket_id}}
auth: {{type: none}}
window: {window}
outcomes:
  - {{status: 404, outcome: retry, reason: not_found_indexing, until_after_close: 1s}}
  - {{status: 404, outcome: permanent, reason: not_found}}
  - {{status: 409, outcome: permanent, reason: write_window_closed}}
"""

    return block


def _http_app() -> FastAPI:
    return _simulator("http")(HttpSimConfig(auto_create=False))


HTTP = Platform(
    name="http",
    window="after_close",
    app=_http_app,
    block=_http_block("after_close"),
    environ={},
    ref=lambda name: {"ticket_id": name},
    prepare=_http_prepare,
    stored=_http_stored,
    refuse=_http_refuse(404),
    refused_reason="not_found",
    write_method="PUT",
    write_prefix="/api/records",
)
HTTP_LIVE = Platform(
    name="http-live",
    platform="http",
    window="live",
    app=_http_app,
    block=_http_block("live"),
    environ={},
    ref=lambda name: {"ticket_id": name},
    prepare=_http_prepare,
    stored=_http_stored,
    refuse=_http_refuse(409),
    refused_reason="write_window_closed",
    write_method="PUT",
    write_prefix="/api/records",
)


def described_elsewhere(names: str) -> list[Platform]:
    """The platforms ``names`` (the value of :data:`MORE_PLATFORMS`) points at."""
    found = []
    for name in filter(None, (part.strip() for part in names.split(","))):
        module, _, attribute = name.partition(":")
        platform = getattr(import_module(module), attribute)
        if not isinstance(platform, Platform):
            raise TypeError(f"{MORE_PLATFORMS}: {name} is a {type(platform).__name__}")
        found.append(platform)
    return found


PLATFORMS = [
    NICE,
    SINCH,
    EIGHT_BY_EIGHT,
    GWS,
    HTTP,
    HTTP_LIVE,
    *described_elsewhere(os.environ.get(MORE_PLATFORMS, "")),
]
