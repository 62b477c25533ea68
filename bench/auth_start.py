"""What logging every tenant in costs at start, with discovery shared across tenants or not.

Run ``python -m bench.auth_start [--tenants 5000] [--rounds 3]``. Every tenant is a NICE CXone
login (its own access key) against ``bench._vendor``'s stub in a further process, all of one
issuer and one CXone tenant, all started at once as a start-up with traffic for every tenant
does. Two ways in the same run, alternating round by round:

- ``per tenant``: each login with its own discovery cache, as every adapter fetched both
  discovery documents for itself before they were shared;
- ``shared``: one discovery cache and one set of in-flight GETs for the process, as the
  service runs.

Printed per way: requests by kind (the most of any round), wall time, and this process's CPU
time (every thread) from the first login to the last, medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from bench._server import process_context, raise_open_file_limit, use_uvloop
from bench._vendor import VendorStub
from service.auth import Authenticator, DiscoveryCache
from service.auth.runner import SharedGets
from service.platforms.nice_cxone.login import CxoneLogin
from service.transport import AiohttpTransport, HttpRequest, HttpResponse


class _Counting:
    """The shared pool, counting requests by kind."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        path = request.url.split("?", 1)[0]
        self.counts["token" if path.endswith("/auth") else path.rsplit("/", 1)[-1]] += 1
        return await self.inner.send(request, timeout)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class _Run:
    counts: Counter[str]
    wall: float
    cpu: float


async def _start(issuer: str, tenants: int, shared: bool) -> _Run:
    transport = _Counting(AiohttpTransport())
    cache, gets = DiscoveryCache(), SharedGets()
    logins = [
        Authenticator(
            CxoneLogin(
                issuer,
                "app",
                "app-secret",
                f"key-{n}",
                "key-secret",
                discovery=cache if shared else DiscoveryCache(),
            ),
            transport,
            shared_gets=gets if shared else SharedGets(),
        )
        for n in range(tenants)
    ]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(login.ready() for login in logins))
        return _Run(transport.counts, time.perf_counter() - wall, time.process_time() - cpu)
    finally:
        await transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raise_open_file_limit()
    use_uvloop(wanted=True)
    runs: dict[str, list[_Run]] = {"per tenant": [], "shared": []}
    with VendorStub(process_context()) as vendor:
        for _ in range(args.rounds):
            for label, done in runs.items():
                done.append(asyncio.run(_start(vendor.url, args.tenants, label == "shared")))
    print(
        f"{args.tenants} tenants of one issuer logging in at once, {args.rounds} rounds (medians)"
    )
    print(f"{'':<11} {'openid':>7} {'cxone':>7} {'token':>7} {'wall s':>7} {'CPU s':>7}")
    for label, done in runs.items():
        counts = Counter({kind: max(r.counts[kind] for r in done) for kind in done[0].counts})
        wall = statistics.median(r.wall for r in done)
        cpu = statistics.median(r.cpu for r in done)
        print(
            f"{label:<11} {counts['openid-configuration']:>7} "
            f"{counts['cxone-configuration']:>7} {counts['token']:>7} {wall:>7.2f} {cpu:>7.2f}"
        )
    ratio = statistics.median(r.cpu for r in runs["shared"]) / statistics.median(
        r.cpu for r in runs["per tenant"]
    )
    print(f"CPU shared / per tenant: {ratio:.2f}")


if __name__ == "__main__":
    main()
