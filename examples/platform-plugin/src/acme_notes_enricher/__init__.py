"""Acme Notes for the interaction enricher: merged fields written to a note
(``platform: acme-notes``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them and ``simulator`` a local Acme Notes. ``SPEC`` is what the
``enricher.platforms`` entry point loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.platforms.base import PlatformAdapter
from service.platforms.spec import AdapterContext, PlatformSpec

from acme_notes_enricher.settings import AcmeNotesSettings
from acme_notes_enricher.wire import PLATFORM

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    # Imported on use, like the simulator: loading the spec stays cheap.
    from acme_notes_enricher.adapter import AcmeNotesAdapter

    return AcmeNotesAdapter(
        context.settings_as(AcmeNotesSettings), context.transport, context.timeout
    )


def _simulator(*args: Any, **kwargs: Any) -> FastAPI:
    from acme_notes_enricher.simulator import create_app

    return create_app(*args, **kwargs)


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Acme Notes",
    settings=AcmeNotesSettings,
    create_adapter=_create_adapter,
    simulator=_simulator,
)
