"""The generic ``http`` platform: a JSON endpoint described in the tenants file.

``settings`` is the tenant block, ``template`` the URL and text templates, ``request`` the
request builder and body shaper, ``outcome_table`` the outcome table (all pure), ``adapter``
the IO around them and ``simulator`` a double of such an endpoint.
"""

from service.platforms.base import PlatformAdapter
from service.platforms.http.adapter import PLATFORM, HttpAdapter, TransportSender
from service.platforms.http.settings import HttpSettings
from service.platforms.http.simulator import create_app
from service.platforms.spec import AdapterContext, PlatformSpec

__all__ = ["SPEC", "HttpSettings"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    settings = context.settings_as(HttpSettings)
    return HttpAdapter(settings, TransportSender(context.transport, context.timeout))


SPEC = PlatformSpec(
    id=PLATFORM,
    title="Generic HTTP endpoint",
    settings=HttpSettings,
    create_adapter=_create_adapter,
    simulator=create_app,
    docs_page="platforms/http.md",
    description="Any JSON endpoint: method, URL template, headers, body shape, auth, outcomes.",
)
