"""Genesys GWS: user data on the agent's live interaction (``platform: genesys-gws``).

``settings`` is the tenant block, ``wire`` the pure request builder, session parsing and
outcome table, ``adapter`` the IO around them, ``simulator`` a local GWS and ``dev`` what dev
mode shows.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.genesys_gws.adapter import GenesysGwsAdapter
from service.platforms.genesys_gws.dev import PROFILE
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return GenesysGwsAdapter(
        context.settings_as(GenesysGwsSettings),
        context.fields,
        context.transport,
        timeout=context.timeout,
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Genesys GWS",
    settings=GenesysGwsSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("service.platforms.genesys_gws.simulator"),
    dev=PROFILE,
    docs_page="platforms/genesys-gws.md",
)
