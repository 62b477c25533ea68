"""The generic ``http`` platform: a JSON endpoint described in the tenants file.

``settings`` is the tenant block, ``template`` the URL and text templates, ``request`` the
request builder and body shaper, ``outcome_table`` the outcome table (all pure), ``adapter``
the IO around them and ``simulator`` a double of such an endpoint.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI

from service.platforms.base import PlatformAdapter
from service.platforms.http import simulator
from service.platforms.http.adapter import PLATFORM, HttpAdapter, TransportSender
from service.platforms.http.settings import HttpSettings
from service.platforms.spec import AdapterContext, DevProfile, PlatformSpec, SampleContext

__all__ = ["SPEC", "HttpSettings"]


def _create_adapter(context: AdapterContext) -> PlatformAdapter:
    settings = context.settings_as(HttpSettings)
    return HttpAdapter(settings, TransportSender(context.transport, context.timeout))


DEV_RECORDS = "/crm/tickets/"
"""Where the dev tenant's writes go on the simulator (``service/dev/tenants.yaml``)."""


def _dev_environ(url: str) -> Mapping[str, str]:
    return {
        "DEV_HTTP_BASE_URL": url + "/crm",
        "DEV_HTTP_TOKEN_URL": url + simulator.TOKEN_PATH,
        "DEV_HTTP_CLIENT_SECRET": simulator.DEV_CLIENT_SECRET,
    }


def _dev_ref(sample: SampleContext) -> dict[str, str]:
    return {"ticket_id": f"T-{100_000 + sample.n}"}


def _dev_lookup(ref: Mapping[str, str]) -> str:
    return "/_sim/record?" + urlencode({"path": DEV_RECORDS + quote(ref["ticket_id"], safe="")})


def _dev_fields(body: Mapping[str, Any]) -> dict[str, object]:
    fields = body.get("fields")
    return dict(fields) if isinstance(fields, dict) else {}


def _dev_simulator() -> FastAPI:
    return simulator.create_app(
        simulator.HttpSimConfig(
            auth="client_credentials", body_shape="pairs", under="fields", auto_create=True
        )
    )


DEV = DevProfile(
    environ=_dev_environ,
    sample_ref=_dev_ref,
    lookup=_dev_lookup,
    record_noun="ticket",
    store_path="/_sim/records",
    stored_fields=_dev_fields,
    simulator=_dev_simulator,
    record_label=lambda lookup: "CRM ticket " + lookup.rsplit("%2F", 1)[-1],
)
"""``enricher dev``'s tenant on this platform: a CRM that takes tickets' custom fields as
name/value pairs, behind OAuth2 client credentials."""

SPEC = PlatformSpec(
    id=PLATFORM,
    title="Generic HTTP endpoint",
    settings=HttpSettings,
    create_adapter=_create_adapter,
    simulator=simulator.create_app,
    dev=DEV,
    docs_page="platforms/http.md",
    description="Any JSON endpoint: method, URL template, headers, body shape, auth, outcomes.",
)
