"""The generic HTTP platform: a JSON endpoint described in the tenants file (``platform: http``).

``settings`` is the tenant block, ``template`` the URL and text templates, ``request`` the
request builder and body shaper, ``outcome_table`` the outcome table (all pure), ``adapter``
the IO around them, ``simulator`` a double of such an endpoint and ``dev`` what dev mode shows.
"""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.http.adapter import PLATFORM, HttpAdapter, sender_for
from service.platforms.http.dev import PROFILE
from service.platforms.http.settings import HttpSettings
from service.platforms.spec import AdapterContext, PlatformSpec, simulator_in

__all__ = ["SPEC"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    settings = context.settings_as(HttpSettings)
    return HttpAdapter(settings, sender_for(settings, context.transport, context.timeout))


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Generic HTTP endpoint",
    settings=HttpSettings,
    create_adapter=_create_adapter,
    simulator=simulator_in("service.platforms.http.simulator"),
    dev=PROFILE,
    docs_page="platforms/http.md",
)
