"""A local Acme Notes: the OAuth2 token endpoint and the note fields API, with the enricher's
shared fault injection and request log, for tests and ``enricher simulate acme-notes``.

Vendor surface: ``POST /oauth/token`` (client credentials, HTTP Basic) and
``PATCH /v2/workspaces/{workspace}/notes/{note_id}/fields`` (a bearer token; 404 for a note
that does not exist, 410 for an archived one; a repeated ``Idempotency-Key`` changes nothing).

Control surface (no auth): ``PUT /_sim/notes/{note_id}`` creates a note,
``GET /_sim/notes/{note_id}`` shows its fields and every write applied to it, in order,
``POST /_sim/notes/{note_id}/archive`` archives it; faults and the request log as every
simulator (``/_sim/faults``, ``/_sim/latency``, ``/_sim/requests``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from service.simulators.faults import (
    FaultInjector,
    RequestLog,
    add_control_route,
    mount_fault_routes,
    mount_request_log_routes,
    observed_route_class,
)

__all__ = ["AcmeNotesSimConfig", "create_app"]


@dataclass(frozen=True)
class AcmeNotesSimConfig:
    client_id: str = "enricher-dev"
    client_secret: str = "acme-notes-dev-secret"  # noqa: S105 - public dev credential
    token_lifetime: int = 3600


@dataclass
class Note:
    note_id: str
    archived: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    writes: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "note_id": self.note_id,
            "archived": self.archived,
            "fields": self.fields,
            "writes": self.writes,
        }


@dataclass
class _State:
    config: AcmeNotesSimConfig
    tokens: set[str] = field(default_factory=set)
    notes: dict[str, Note] = field(default_factory=dict)
    applied_keys: set[str] = field(default_factory=set)


def _state(request: Request) -> _State:
    state: _State = request.app.state.sim
    return state


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status)


def _basic_client(header: str) -> tuple[str, str]:
    """The client's id and secret from HTTP Basic, each form-encoded before the two were
    joined (RFC 6749 §2.3.1); empty when the header is not Basic or does not decode."""
    if not header.startswith("Basic "):
        return "", ""
    try:
        given = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, client_secret = given.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


async def issue_token(request: Request) -> Response:
    sim = _state(request)
    client_id, client_secret = _basic_client(request.headers.get("authorization", ""))
    # Read by hand: Starlette's form parser needs a package the enricher does not install.
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type")
    config = sim.config
    if client_id != config.client_id or not secrets.compare_digest(
        client_secret.encode(), config.client_secret.encode()
    ):
        return _error(401, "invalid_client")
    token = secrets.token_urlsafe(24)
    sim.tokens.add(token)
    return JSONResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": sim.config.token_lifetime}
    )


async def write_fields(request: Request, workspace: str, note_id: str) -> Response:
    sim = _state(request)
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer ") or header[7:] not in sim.tokens:
        return _error(401, "invalid_token")
    note = sim.notes.get(note_id)
    if note is None:
        return _error(404, "note_not_found")
    if note.archived:
        return _error(410, "note_archived")
    body = await request.json()
    values = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(values, dict):
        return _error(422, "fields must be an object")
    key = request.headers.get("idempotency-key")
    if key is not None and key in sim.applied_keys:
        return Response(status_code=204)
    if key is not None:
        sim.applied_keys.add(key)
    note.fields.update(values)
    note.writes.append({"workspace": workspace, "idempotency_key": key, "fields": values})
    return Response(status_code=204)


def _vendor_router(faults: FaultInjector, log: RequestLog) -> APIRouter:
    router = APIRouter(route_class=observed_route_class(faults, log), tags=["Acme Notes"])
    router.add_api_route("/oauth/token", issue_token, methods=["POST"])
    router.add_api_route(
        "/v2/workspaces/{workspace}/notes/{note_id}/fields", write_fields, methods=["PATCH"]
    )
    return router


def _known(sim: _State, note_id: str) -> Note:
    note = sim.notes.get(note_id)
    if note is None:
        raise HTTPException(404, f"note {note_id} does not exist")
    return note


async def create_note(request: Request, note_id: str) -> dict[str, Any]:
    sim = _state(request)
    note = sim.notes.setdefault(note_id, Note(note_id))
    return note.view()


async def get_note(request: Request, note_id: str) -> dict[str, Any]:
    return _known(_state(request), note_id).view()


async def list_notes(request: Request) -> list[dict[str, Any]]:
    return [note.view() for note in _state(request).notes.values()]


async def archive_note(request: Request, note_id: str) -> dict[str, Any]:
    note = _known(_state(request), note_id)
    note.archived = True
    return note.view()


def create_app(config: AcmeNotesSimConfig | None = None) -> FastAPI:
    """One independent simulator; called bare it takes the dev credentials."""
    faults = FaultInjector()
    log = RequestLog(clock=time.time)
    app = FastAPI(title="Acme Notes API simulator", docs_url=None, redoc_url=None)
    app.state.sim = _State(config or AcmeNotesSimConfig())
    app.include_router(_vendor_router(faults, log))
    add_control_route(app, "/_sim/notes", list_notes, "GET")
    add_control_route(app, "/_sim/notes/{note_id}", create_note, "PUT")
    add_control_route(app, "/_sim/notes/{note_id}", get_note, "GET")
    add_control_route(app, "/_sim/notes/{note_id}/archive", archive_note, "POST")
    mount_fault_routes(app, faults)
    mount_request_log_routes(app, log)
    return app
