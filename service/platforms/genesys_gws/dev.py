"""What ``enricher dev`` knows about Genesys GWS: the dev tenant's environment, sample live
interactions, releasing one before its close, and how to read what the simulator stores.

The simulator is imported where it is used, so loading the spec loads no FastAPI app. It
creates an unknown interaction on its first write, as a live one would already exist at GWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.platforms.spec import DevProfile, SampleContext

__all__ = ["PROFILE"]


def _environ(url: str) -> dict[str, str]:
    from service.platforms.genesys_gws import simulator

    return {"DEV_GWS_BASE_URL": url, "DEV_GWS_PASSWORD": simulator.DEV_PASSWORD}


def _sample_ref(sample: SampleContext) -> dict[str, str]:
    media = "calls" if sample.channel == "voice" else "chats"
    return {"media": media, "session_id": f"{sample.rng.getrandbits(64):016X}"}


def _lookup(ref: Mapping[str, str]) -> str:
    return f"/_sim/interactions/{ref['media']}/{ref['session_id']}"


def _stored_fields(body: Mapping[str, Any]) -> dict[str, object]:
    return dict(body.get("user_data") or {})


def _release(ref: Mapping[str, str]) -> str:
    """A call is released, a chat completed: either way the live write window closes."""
    action = "release" if ref["media"] == "calls" else "complete"
    return f"{_lookup(ref)}/{action}"


def _record_label(lookup: str) -> str:
    """``GWS calls 00AB...``: media and session id together name a GWS interaction."""
    parts = lookup.rstrip("/").split("/")
    return f"GWS {parts[-2]} {parts[-1]}"


PROFILE = DevProfile(
    environ=_environ,
    sample_ref=_sample_ref,
    lookup=_lookup,
    record_name="GWS interaction",
    store_path="/_sim/interactions",
    stored_fields=_stored_fields,
    release=_release,
    record_label=_record_label,
)
