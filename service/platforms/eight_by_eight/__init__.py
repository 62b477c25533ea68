"""8x8 Contact Center: interaction variables (``platform: 8x8``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them, ``simulator`` a local 8x8 and ``dev`` what dev mode shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.platforms.base import PlatformAdapter
from service.platforms.eight_by_eight.adapter import EightByEightAdapter
from service.platforms.eight_by_eight.dev import PROFILE
from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.eight_by_eight.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return EightByEightAdapter(
        context.settings_as(EightByEightSettings),
        context.fields,
        context.transport,
        timeout=context.timeout,
    )


def _simulator(*args: Any, **kwargs: Any) -> FastAPI:
    # Imported on use: the service and its commands load no simulator (nor FastAPI for it).
    from service.platforms.eight_by_eight.simulator import create_app

    return create_app(*args, **kwargs)


SPEC = PlatformSpec(
    id=PLATFORM,
    title="8x8",
    settings=EightByEightSettings,
    create_adapter=_create_adapter,
    simulator=_simulator,
    dev=PROFILE,
    docs_page="platforms/8x8.md",
)
