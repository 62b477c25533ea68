"""Acme Notes as the enricher's conformance suite drives it: its tenant block, its ids, and
how to ask its simulator what a note holds and to make it refuse writes for good.

Run from a checkout of the enricher, with this package importable::

    ENRICHER_CONFORMANCE_PLATFORMS=conformance_platform:ACME_NOTES \\
    PYTHONPATH=.:examples/platform-plugin/src:examples/platform-plugin/tests \\
    .venv/bin/pytest tests/conformance -k acme-notes
"""

from __future__ import annotations

from typing import Any

import httpx
from tests.conformance.platforms import Platform

from acme_notes_enricher.simulator import AcmeNotesSimConfig, create_app

__all__ = ["ACME_NOTES"]

SECRET = AcmeNotesSimConfig().client_secret


async def _prepare(control: httpx.AsyncClient, ref: dict[str, str]) -> None:
    (await control.put(f"/_sim/notes/{ref['note_id']}")).raise_for_status()


async def _stored(control: httpx.AsyncClient, ref: dict[str, str]) -> dict[str, Any]:
    answer = await control.get(f"/_sim/notes/{ref['note_id']}")
    if answer.status_code == 404:
        return {}
    fields: dict[str, Any] = answer.json()["fields"]
    return fields


async def _refuse(control: httpx.AsyncClient, ref: dict[str, str]) -> None:
    """An archived note answers 410 to every write."""
    await _prepare(control, ref)
    (await control.post(f"/_sim/notes/{ref['note_id']}/archive")).raise_for_status()


ACME_NOTES = Platform(
    name="acme-notes",
    window="after_close",
    app=create_app,
    block=lambda url: (
        f"base_url: {url}\nworkspace: support\nclient_id: enricher-dev\n"
        "client_secret: ${ACME_NOTES_SECRET}\n"
    ),
    environ={"ACME_NOTES_SECRET": SECRET},
    ref=lambda name: {"note_id": name},
    prepare=_prepare,
    stored=_stored,
    refuse=_refuse,
    refused_reason="note_archived",
    write_method="PATCH",
    write_prefix="/v2/workspaces/",
)
