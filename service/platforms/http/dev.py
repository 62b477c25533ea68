"""What ``enricher dev`` knows about the generic HTTP platform: its dev tenant is a CRM that
takes a ticket's custom fields as name/value pairs behind OAuth2 client credentials
(``service/dev/tenants.yaml``), and the simulator plays that CRM.

The simulator is imported where it is used, so loading the spec loads no FastAPI app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from service.platforms.spec import DevProfile, SampleContext

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["PROFILE", "RECORDS"]

RECORDS = "/crm/tickets/"
"""Where the dev tenant's writes land at the simulator: its ``base_url`` path and ``path``."""


def _environ(url: str) -> dict[str, str]:
    from service.platforms.http import simulator

    return {
        "DEV_HTTP_BASE_URL": url + "/crm",
        "DEV_HTTP_TOKEN_URL": url + simulator.TOKEN_PATH,
        "DEV_HTTP_CLIENT_SECRET": simulator.DEV_CLIENT_SECRET,
    }


def _sample_ref(sample: SampleContext) -> dict[str, str]:
    return {"ticket_id": f"T-{100_000 + sample.n}"}


def _lookup(ref: Mapping[str, str]) -> str:
    return "/_sim/record?" + urlencode({"path": RECORDS + quote(ref["ticket_id"], safe="")})


def _stored_fields(body: Mapping[str, Any]) -> dict[str, object]:
    fields = body.get("fields")
    return dict(fields) if isinstance(fields, dict) else {}


def _record_label(lookup: str) -> str:
    """``CRM ticket T-100005``: the ticket id is the last step of the record's path."""
    return "CRM ticket " + lookup.rsplit("%2F", 1)[-1]


def _simulator() -> FastAPI:
    from service.platforms.http import simulator

    return simulator.create_app(
        simulator.HttpSimConfig(auth="client_credentials", body_shape="pairs", under="fields")
    )


PROFILE = DevProfile(
    environ=_environ,
    sample_ref=_sample_ref,
    lookup=_lookup,
    record_name="CRM ticket",
    store_path="/_sim/records",
    stored_fields=_stored_fields,
    simulator=_simulator,
    record_label=_record_label,
)
