"""What ``enricher dev`` knows about NICE CXone: the dev tenant's environment, sample
contacts, and how to read what the simulator stores.

The simulator is imported where it is used, so loading the spec loads no FastAPI app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from service.platforms.spec import DevProfile, SampleContext

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEV_FIELDS", "PROFILE"]

DEV_FIELDS = frozenset({"Sentiment", "SentimentScore", "Topics", "CrmAccount", "CaseNumber", "Vip"})
"""The dev tenant's business data fields, declared at the simulator as they would be in
CXone: a field the tenant maps but NICE does not know is refused there."""


def _environ(url: str) -> dict[str, str]:
    from service.platforms.nice_cxone import simulator

    return {
        "DEV_NICE_ISSUER": url,
        "DEV_NICE_CLIENT_SECRET": simulator.DEV_CLIENT_SECRET,
        "DEV_NICE_ACCESS_KEY_ID": simulator.DEV_ACCESS_KEY_ID,
        "DEV_NICE_ACCESS_KEY_SECRET": simulator.DEV_ACCESS_KEY_SECRET,
    }


def _sample_ref(sample: SampleContext) -> dict[str, str]:
    return {"contact_id": str(1_000_000 + sample.n)}


def _registration(ref: Mapping[str, str], channel: str) -> tuple[str, Mapping[str, Any]]:
    """CXone writes only to contacts it knows, under the tenant that owns them."""
    from service.platforms.nice_cxone import simulator

    return "/_sim/contacts", {"contact_id": ref["contact_id"], "tenant_id": simulator.DEV_TENANT_ID}


def _lookup(ref: Mapping[str, str]) -> str:
    return f"/_sim/contacts/{ref['contact_id']}"


def _stored_fields(body: Mapping[str, Any]) -> dict[str, object]:
    segments = body.get("segments") or {}
    return dict(next(iter(segments.values()), {}))


def _simulator() -> FastAPI:
    """With the dev tenant's field catalogue, since CXone refuses fields it does not declare."""
    from service.platforms.nice_cxone import simulator

    return simulator.create_app(simulator.NiceSimConfig(field_catalogue=set(DEV_FIELDS)))


PROFILE = DevProfile(
    environ=_environ,
    sample_ref=_sample_ref,
    lookup=_lookup,
    record_name="NICE contact",
    store_path="/_sim/contacts",
    stored_fields=_stored_fields,
    registration=_registration,
    simulator=_simulator,
)
