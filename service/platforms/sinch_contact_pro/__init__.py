"""Sinch Contact Pro: attached data on a disconnected contact (``platform:
sinch-contact-pro``).

``settings`` is the tenant block, ``wire`` the pure request builder and outcome table,
``adapter`` the IO around them, ``simulator`` a local Contact Pro and ``dev`` what dev mode
shows.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.sinch_contact_pro.adapter import SinchContactProAdapter
from service.platforms.sinch_contact_pro.dev import PROFILE
from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.platforms.sinch_contact_pro.wire import PLATFORM
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    return SinchContactProAdapter(
        context.settings_as(SinchContactProSettings),
        context.fields,
        context.transport,
        timeout=context.timeout,
    )


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Sinch Contact Pro",
    settings=SinchContactProSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("service.platforms.sinch_contact_pro.simulator"),
    dev=PROFILE,
    docs_page="platforms/sinch-contact-pro.md",
)
