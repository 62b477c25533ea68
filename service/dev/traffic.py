"""Sample traffic for ``enricher dev``: interactions as contact centers and their CRM and
speech-analytics pipelines would produce them, for one sample tenant on each platform, in every
arrival order that matters.

Interactions go to the tenants in turn. Each carries the ``ref`` its platform addresses it by
and is registered at the vendor simulator first where the platform needs the interaction to
exist and nothing would create it; both come from the platform's dev profile
(``PlatformSpec.dev``). After-close platforms mostly see the close first and analytics later,
often analytics first (held until the close), sometimes a redelivered event. A live-window
platform sees analytics while the interaction runs and the close afterwards; now and then, where
its simulator can end an interaction, the interaction ends just before the close, so the CRM
facts of that close meet a closed write window. Now and then a malformed record shows the DLQ
at work.

Planning (which events, which order, which ids) is pure and seeded; ``TrafficGenerator`` only
performs the plans.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from service.platforms.registry import spec_for
from service.platforms.spec import DevProfile, SampleContext

__all__ = [
    "BAD_RECORD",
    "InteractionPlan",
    "Order",
    "SampleTenant",
    "Send",
    "TrafficGenerator",
    "arrival_order",
    "plan_interaction",
    "sample_ref",
]

_LABELS = ("positive", "neutral", "negative")
_TOPICS = ("billing", "cancel", "upgrade", "outage", "refund", "address-change")
BAD_RECORD = b'{"type": "interaction.closed", '
"""Cut off mid-object, as a producer crashing mid-write would leave it."""

BAD_SHARE = 0.05
RELEASE_SHARE = 0.10
"""Share of live interactions ended at the vendor before their close event is consumed."""


@dataclass(frozen=True, slots=True)
class SampleTenant:
    """A tenant of the dev tenants file, with the simulator that plays its platform."""

    name: str
    platform: str
    simulator_url: str
    live: bool = False
    """The platform is written while the interaction runs (its write window is ``live``)."""

    @property
    def profile(self) -> DevProfile:
        profile = spec_for(self.platform).dev
        if profile is None:
            raise ValueError(f"no sample traffic for platform {self.platform!r}")
        return profile


class Order(enum.Enum):
    CLOSE_FIRST = "close_first"
    ANALYTICS_FIRST = "analytics_first"
    REDELIVERED = "redelivered"


@dataclass(frozen=True, slots=True)
class Send:
    topic: Literal["closed", "analytics"]
    """``closed`` or ``analytics``: the generator maps them to the configured topics."""
    value: bytes
    delay: float = 0.0
    release_first: bool = False
    """End the live interaction at the simulator just before this record is produced."""


@dataclass(frozen=True, slots=True)
class InteractionPlan:
    tenant: SampleTenant
    interaction_id: str
    ref: Mapping[str, str]
    channel: str
    sends: tuple[Send, ...]
    registration: tuple[str, Mapping[str, Any]] | None
    """The simulator control call (path, body) that makes the interaction exist, if needed."""
    lookup: str
    """The simulator control path that shows what the vendor stores for this interaction."""
    released: bool = False

    @property
    def key(self) -> bytes:
        return f"{self.tenant.name}:{self.interaction_id}".encode()


def arrival_order(roll: float, *, live: bool) -> Order:
    """How an interaction's events arrive. A live-window platform is written while the
    interaction runs, so its analytics always come before the close."""
    if live:
        return Order.ANALYTICS_FIRST if roll < 0.85 else Order.REDELIVERED
    if roll < 0.60:
        return Order.CLOSE_FIRST
    if roll < 0.90:
        return Order.ANALYTICS_FIRST
    return Order.REDELIVERED


def plan_interaction(tenant: SampleTenant, n: int, rng: random.Random) -> InteractionPlan:
    """Everything about the ``n``-th interaction, drawn from ``rng`` only (seeded runs repeat)."""
    live = tenant.live
    interaction_id = f"call-{n:06d}"
    channel = rng.choice(("voice", "voice", "chat"))
    ref = _ref(tenant, n, channel, rng)
    release = live and tenant.profile.release(ref) is not None and rng.random() < RELEASE_SHARE
    closed = _closed_event(tenant, interaction_id, channel=channel, ref=ref, n=n, rng=rng)
    analytics = _analytics_event(tenant.name, interaction_id, channel, ref if live else None, rng)
    order = arrival_order(rng.random(), live=live)
    sends = (_live_sends if live else _sends)(order, closed, analytics, release, rng)
    if rng.random() < BAD_SHARE:
        sends = (Send("closed", BAD_RECORD), *sends)
    return InteractionPlan(
        tenant=tenant,
        interaction_id=interaction_id,
        ref=ref,
        channel=channel,
        sends=sends,
        registration=tenant.profile.registration(ref, channel),
        lookup=tenant.profile.lookup(ref),
        released=release,
    )


def _sends(
    order: Order, closed: bytes, analytics: bytes, release: bool, rng: random.Random
) -> tuple[Send, ...]:
    delay = rng.uniform(0.5, 2.0)
    if order is Order.CLOSE_FIRST:
        return (Send("closed", closed), Send("analytics", analytics, delay))
    if order is Order.ANALYTICS_FIRST:
        return (Send("analytics", analytics), Send("closed", closed, delay, release))
    return (
        Send("closed", closed),
        Send("closed", closed),  # redelivered upstream
        Send("analytics", analytics),
    )


def _live_sends(
    order: Order, closed: bytes, analytics: bytes, release: bool, rng: random.Random
) -> tuple[Send, ...]:
    """Analytics while the interaction runs, the close afterwards."""
    delay = rng.uniform(0.5, 2.0)
    redelivered = (Send("analytics", analytics),) if order is Order.REDELIVERED else ()
    return (Send("analytics", analytics), *redelivered, Send("closed", closed, delay, release))


def _ref(tenant: SampleTenant, n: int, channel: str, rng: random.Random) -> dict[str, str]:
    return sample_ref(tenant.platform, tenant.name, n, channel, rng)


def sample_ref(
    platform: str, tenant: str, n: int, channel: str, rng: random.Random
) -> dict[str, str]:
    """The ids a platform addresses an interaction by, shaped like the vendor's own (public:
    ``enricher send --sample`` addresses its events the same way)."""
    profile = spec_for(platform).dev
    if profile is None:
        raise ValueError(f"no sample traffic for platform {platform!r}")
    return profile.sample_ref(SampleContext(tenant, n, channel, rng))


def _closed_event(
    tenant: SampleTenant,
    interaction_id: str,
    *,
    channel: str,
    ref: Mapping[str, str],
    n: int,
    rng: random.Random,
) -> bytes:
    data: dict[str, Any] = {
        "crm_account": f"A-{1000 + n}",
        "case_number": 4000 + n,
        "vip": rng.random() < 0.2,
    }
    data.update(tenant.profile.close_data(rng))
    return _event(
        "interaction.closed",
        tenant.name,
        interaction_id,
        channel=channel,
        ref=dict(ref),
        status="Handled",
        data=data,
    )


def _analytics_event(
    tenant: str,
    interaction_id: str,
    channel: str,
    ref: Mapping[str, str] | None,
    rng: random.Random,
) -> bytes:
    """``ref`` (and the channel) only where the platform is written before the close."""
    label = rng.choice(_LABELS)
    score = {"positive": 0.7, "neutral": 0.0, "negative": -0.6}[label] + rng.uniform(-0.2, 0.2)
    routing: dict[str, Any] = {} if ref is None else {"ref": dict(ref), "channel": channel}
    return _event(
        "analytics.result",
        tenant,
        interaction_id,
        source="speech-analytics",
        data={
            "sentiment": {"label": label, "score": round(score, 2)},
            "topics": rng.sample(_TOPICS, 2),
        },
        **routing,
    )


def _event(type_: str, tenant: str, interaction_id: str, **body: Any) -> bytes:
    return orjson.dumps(
        {
            "type": type_,
            "version": 1,
            "event_id": str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(),
            "tenant": tenant,
            "interaction_id": interaction_id,
            **body,
        }
    )


@dataclass
class TrafficGenerator:
    """Produces planned interactions at ``rate`` per second in all, the tenants taking turns."""

    bootstrap_servers: str
    closed_topic: str
    analytics_topic: str
    tenants: Sequence[SampleTenant]
    rate: float = 5.0
    seed: int | None = None
    interactions: int = 0
    produced: int = 0
    bad_records: int = 0
    released: int = 0
    lookups: dict[str, list[str]] = field(default_factory=dict)
    """Per tenant, the simulator paths of its interactions in the order they were started."""
    started: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Per tenant, (interaction id, simulator path) of its interactions in the order started."""
    bad_by_tenant: dict[str, int] = field(default_factory=dict)
    """Per tenant, the malformed records sent on purpose (each one a dead letter to come)."""
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def rate_per_tenant(self) -> float:
        return self.rate / max(1, len(self.tenants))

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - sample data, not security
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, enable_idempotence=False, linger_ms=5
        )
        await producer.start()
        try:
            async with httpx.AsyncClient(timeout=5) as sim:
                while not stop.is_set():
                    tenant = self.tenants[self.interactions % len(self.tenants)]
                    self.interactions += 1
                    plan = plan_interaction(tenant, self.interactions, rng)
                    await self._perform(plan, producer, sim)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=1 / self.rate)
                await self._drain()
        finally:
            await producer.stop()

    async def _drain(self) -> None:
        """Lets delayed events go out (they complete their interactions), within a bound."""
        if not self._pending:
            return
        _, late = await asyncio.wait(self._pending, timeout=5)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _perform(
        self, plan: InteractionPlan, producer: AIOKafkaProducer, sim: httpx.AsyncClient
    ) -> None:
        base = plan.tenant.simulator_url
        if plan.registration is not None:
            path, body = plan.registration
            await sim.post(base + path, json=body)
        self.lookups.setdefault(plan.tenant.name, []).append(plan.lookup)
        self.started.setdefault(plan.tenant.name, []).append((plan.interaction_id, plan.lookup))
        for send in plan.sends:
            if send.delay:
                self._later(plan, send, producer, sim)
            else:
                await self._send(producer, plan, send)

    async def _send(self, producer: AIOKafkaProducer, plan: InteractionPlan, send: Send) -> None:
        topic = self.closed_topic if send.topic == "closed" else self.analytics_topic
        await producer.send_and_wait(topic, value=send.value, key=plan.key)
        self.produced += 1
        if send.value == BAD_RECORD:
            self.bad_records += 1
            tenant = plan.tenant.name
            self.bad_by_tenant[tenant] = self.bad_by_tenant.get(tenant, 0) + 1

    async def _release(self, plan: InteractionPlan, sim: httpx.AsyncClient) -> None:
        """Ends the live interaction at the simulator. One the enricher has not written yet may
        not exist there (a simulator that creates it on first write), so then there is nothing
        to end."""
        path = plan.tenant.profile.release(plan.ref)
        if path is None:
            return
        response = await sim.post(plan.tenant.simulator_url + path)
        if response.status_code == 200:
            self.released += 1

    def _later(
        self,
        plan: InteractionPlan,
        send: Send,
        producer: AIOKafkaProducer,
        sim: httpx.AsyncClient,
    ) -> None:
        async def send_later() -> None:
            await asyncio.sleep(send.delay)
            if send.release_first:
                await self._release(plan, sim)
            await self._send(producer, plan, send)

        task = asyncio.create_task(send_later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
