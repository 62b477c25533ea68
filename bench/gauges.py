"""What the commit tick's lane gauges cost as the number of configured tenants grows.

Run ``python -m bench.gauges``. For 1, 100, 1,000 and 5,000 configured tenants, none of them
busy, it times ``Lanes.publish_gauges`` (called on every commit tick) two ways in the same run:
as it runs, where an idle lane whose figures have not changed is skipped, and with every lane
made to publish (the baseline: what every tick cost before idle lanes were skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from service.delivery.lanes import LaneConfig, Lanes
from service.delivery.retry_topics import tiers_of
from service.ledger.memory import MemoryLedger
from service.metrics import Metrics
from service.platforms.base import Delivery, WriteWindow
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenants import Tenant

TICKS = 20


class _Idle:
    """An adapter that is never called: every lane stays idle."""

    platform = "nice-cxone"
    write_window: WriteWindow = "after_close"

    async def send(self, delivery: Delivery) -> Outcome:
        return Outcome(OutcomeKind.DELIVERED, "delivered", 204)

    async def close(self) -> None:
        return None


def _tenant() -> Tenant:
    return Tenant.model_validate(
        {
            "platform": "nice-cxone",
            "nice-cxone": {
                "issuer": "https://x",
                "client_id": "c",
                "client_secret": "s",
                "access_key_id": "k",
                "access_key_secret": "ks",
            },
            "fields": {"Crm": {"from": "crm"}},
        }
    )


def _per_tick(lanes: Lanes, *, force: bool) -> float:
    """Milliseconds per ``publish_gauges`` call, averaged over ``TICKS`` calls."""
    elapsed = 0.0
    for _ in range(TICKS):
        started = time.perf_counter()
        lanes.publish_gauges(force=force)
        elapsed += time.perf_counter() - started
    return elapsed / TICKS * 1e3


async def _measure(count: int) -> tuple[float, float]:
    tenant = _tenant()
    names = [f"t{n}" for n in range(count)]
    lanes = Lanes(
        dict.fromkeys(names, tenant),
        {name: _Idle() for name in names},
        MemoryLedger(),
        Metrics(),
        LaneConfig(tiers=tiers_of("retry.", [30])),
    )
    lanes.publish_gauges()
    return _per_tick(lanes, force=False), _per_tick(lanes, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, nargs="*", default=[1, 100, 1_000, 5_000])
    args = parser.parse_args()
    print(f"{'tenants':>8}{'idle skipped':>15}{'all published':>15}{'ratio':>8}")
    for count in args.tenants:
        skipped, published = asyncio.run(_measure(count))
        print(f"{count:>8}{skipped:>12.2f} ms{published:>12.2f} ms{skipped / published:>8.2f}")


if __name__ == "__main__":
    main()
