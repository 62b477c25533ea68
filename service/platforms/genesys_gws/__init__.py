"""Genesys GWS: user data on the agent's live interaction (``platform: genesys-gws``).

``settings`` is the tenant block, ``wire`` the pure request builder, session parsing and
outcome table, ``adapter`` the IO around them, ``simulator`` a local GWS and ``dev`` what dev
mode shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.platforms.base import PlatformAdapter
from service.platforms.genesys_gws.adapter import GenesysGwsAdapter
from service.platforms.genesys_gws.dev import PROFILE
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return GenesysGwsAdapter(
        context.settings_as(GenesysGwsSettings),
        context.fields,
        context.transport,
        timeout=context.timeout,
    )


def _simulator(*args: Any, **kwargs: Any) -> FastAPI:
    # Imported on use: the service and its commands load no simulator (nor FastAPI for it).
    from service.platforms.genesys_gws.simulator import create_app

    return create_app(*args, **kwargs)


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Genesys GWS",
    settings=GenesysGwsSettings,
    create_adapter=_create_adapter,
    simulator=_simulator,
    dev=PROFILE,
    docs_page="platforms/genesys-gws.md",
)
