"""NICE CXone: business data on a closed contact (``platform: nice-cxone``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them, ``simulator`` a local CXone and ``dev`` what dev mode shows.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.nice_cxone.adapter import NiceCxoneAdapter
from service.platforms.nice_cxone.dev import PROFILE
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.nice_cxone.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return NiceCxoneAdapter(
        context.settings_as(NiceCxoneSettings), context.transport, timeout=context.timeout
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="NICE CXone",
    settings=NiceCxoneSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("service.platforms.nice_cxone.simulator"),
    dev=PROFILE,
    docs_page="platforms/nice-cxone.md",
)
