"""Acme Notes for the interaction enricher: merged fields written to a note
(``platform: acme-notes``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them and ``simulator`` a local Acme Notes. ``SPEC`` is what the
``enricher.platforms`` entry point loads.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

from acme_notes_enricher.settings import AcmeNotesSettings
from acme_notes_enricher.wire import PLATFORM

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    # Imported on use, like the simulator: loading the spec stays cheap.
    from acme_notes_enricher.adapter import AcmeNotesAdapter

    return AcmeNotesAdapter(
        context.settings_as(AcmeNotesSettings), context.transport, context.timeout
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Acme Notes",
    settings=AcmeNotesSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("acme_notes_enricher.simulator"),
)
