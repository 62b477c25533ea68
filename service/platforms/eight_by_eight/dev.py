"""What ``enricher dev`` knows about 8x8: the dev tenant's environment, sample interactions
(with a private value), and how to read what the simulator stores.

The simulator is imported where it is used, so loading the spec loads no FastAPI app. It
creates an unknown interaction on its first write, as a live one would already exist at 8x8.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from service.platforms.spec import DevProfile, SampleContext

__all__ = ["PROFILE"]

_PRIVATE = "****"


def _environ(url: str) -> dict[str, str]:
    from service.platforms.eight_by_eight import simulator

    return {"DEV_8X8_BASE_URL": url, "DEV_8X8_ACTION_TOKEN": simulator.DEV_ACTION_TOKEN}


def _sample_ref(sample: SampleContext) -> dict[str, str]:
    media = "phone" if sample.channel == "voice" else "chat"
    serial = f"{sample.n:011x}-{sample.rng.getrandbits(32):08x}"
    return {"guid": f"int-{serial}-{media}-01-{sample.tenant}"}


def _lookup(ref: Mapping[str, str]) -> str:
    return f"/_sim/interactions/{ref['guid']}"


def _stored_fields(body: Mapping[str, Any]) -> dict[str, object]:
    """Private values masked: the control view shows them in clear, a terminal should not."""
    variables: Mapping[str, Mapping[str, Any]] = body.get("variables") or {}
    return {name: _PRIVATE if v.get("privacy") else v.get("value") for name, v in variables.items()}


def _close_data(rng: random.Random) -> dict[str, Any]:
    """A card's last digits, which the dev tenant maps as a private variable."""
    return {"card_last4": f"{rng.randrange(10_000):04d}"}


PROFILE = DevProfile(
    environ=_environ,
    sample_ref=_sample_ref,
    lookup=_lookup,
    record_name="8x8 interaction",
    store_path="/_sim/interactions",
    stored_fields=_stored_fields,
    close_data=_close_data,
)
