"""What ``enricher dev`` knows about Sinch Contact Pro: the dev tenant's environment, sample
contacts, and how to read what the simulator stores.

The simulator is imported where it is used, so loading the spec loads no FastAPI app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.platforms.spec import DevProfile, SampleContext

__all__ = ["PROFILE"]


def _environ(url: str) -> dict[str, str]:
    from service.platforms.sinch_contact_pro import simulator

    return {
        "DEV_SINCH_BASE_URL": url,
        "DEV_SINCH_PASSWORD": simulator.DEV_PASSWORD,
        "DEV_SINCH_API_KEY": simulator.DEV_API_KEY,
    }


def _sample_ref(sample: SampleContext) -> dict[str, str]:
    return {"contact_id": f"{sample.rng.getrandbits(128):032x}"}


def _registration(ref: Mapping[str, str], channel: str) -> tuple[str, Mapping[str, Any]]:
    """Sinch takes attached data only for a contact it knows, on its channel, once it is
    disconnected."""
    return "/_sim/contacts", {"id": ref["contact_id"], "channel": channel, "status": "Handled"}


def _lookup(ref: Mapping[str, str]) -> str:
    return f"/_sim/contacts/{ref['contact_id']}"


def _stored_fields(body: Mapping[str, Any]) -> dict[str, object]:
    return dict(body.get("attached_data") or {})


PROFILE = DevProfile(
    environ=_environ,
    sample_ref=_sample_ref,
    lookup=_lookup,
    record_name="Sinch contact",
    store_path="/_sim/contacts",
    stored_fields=_stored_fields,
    registration=_registration,
)
