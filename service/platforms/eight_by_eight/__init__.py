"""8x8 Contact Center: interaction variables (``platform: 8x8``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them, ``simulator`` a local 8x8 and ``dev`` what dev mode shows.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.eight_by_eight.adapter import EightByEightAdapter
from service.platforms.eight_by_eight.dev import PROFILE
from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.eight_by_eight.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return EightByEightAdapter(
        context.settings_as(EightByEightSettings),
        context.fields,
        context.transport,
        timeout=context.timeout,
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="8x8",
    settings=EightByEightSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("service.platforms.eight_by_eight.simulator"),
    dev=PROFILE,
    docs_page="platforms/8x8.md",
)
