"""Prometheus metrics, all prefixed ``enricher_``.

Each service instance owns its registry, so several instances can live in one process (tests,
``enricher dev``) without colliding. Tenant labels only ever carry configured tenant names;
input that names an unknown tenant is counted under ``unknown`` so a bad producer cannot blow
up label cardinality.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Children", "Metrics"]

M = TypeVar("M", Counter, Gauge, Histogram)

UNKNOWN = "unknown"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.consumed = Counter(
            "enricher_consumed",
            "Input records consumed.",
            ["tenant", "platform", "type"],
            registry=r,
        )
        self.bad_input = Counter(
            "enricher_bad_input",
            "Input records rejected as bad input.",
            ["tenant", "reason"],
            registry=r,
        )
        self.delivered = Counter(
            "enricher_delivered",
            "Changes acknowledged by the platform.",
            ["tenant", "platform"],
            registry=r,
        )
        self.retried = Counter(
            "enricher_retried",
            "Delivery attempts retried.",
            ["tenant", "platform", "reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "enricher_dead_lettered",
            "Records written to the DLQ.",
            ["tenant", "platform", "reason"],
            registry=r,
        )
        self.held = Counter(
            "enricher_held",
            "Changes held until the interaction closes (after-close platforms).",
            ["tenant", "platform"],
            registry=r,
        )
        self.lease_waits = Counter(
            "enricher_lease_waits",
            "Attempts that found another attempt (usually another replica) calling the vendor "
            "for the same interaction, and looked again later instead of calling.",
            ["tenant", "platform"],
            registry=r,
        )
        self.vendor_requests = Histogram(
            "enricher_vendor_request_seconds",
            "Vendor call latency by outcome status class.",
            ["tenant", "platform", "status_class"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.parked = Counter(
            "enricher_parked",
            "Records parked in a delayed retry topic.",
            ["tenant", "platform", "tier", "reason"],
            registry=r,
        )
        self.spilled = Counter(
            "enricher_spilled",
            "Records sent to the retry topic without a call (lane full or breaker open).",
            ["tenant", "platform", "reason"],
            registry=r,
        )
        lane = ["tenant", "platform"]
        self.lane_limit = Gauge(
            "enricher_lane_limit", "Current adaptive concurrency limit of a lane.", lane, registry=r
        )
        self.lane_in_flight = Gauge(
            "enricher_lane_in_flight", "Vendor calls in flight in a lane.", lane, registry=r
        )
        self.lane_queued = Gauge(
            "enricher_lane_queued", "Interactions queued in a lane.", lane, registry=r
        )
        self.lane_breaker_open = Gauge(
            "enricher_lane_breaker_open",
            "1 while a lane's circuit breaker is open.",
            lane,
            registry=r,
        )
        self.lane_paused = Gauge(
            "enricher_lane_paused",
            "1 while a lane is paused (Retry-After or an operator).",
            lane,
            registry=r,
        )
        self.oldest_undelivered = Gauge(
            "enricher_oldest_undelivered_seconds",
            "Age of the oldest change waiting in a lane.",
            lane,
            registry=r,
        )
        self.in_flight = Gauge("enricher_in_flight", "Records being processed.", registry=r)
        self.incomplete_offsets = Gauge(
            "enricher_incomplete_offsets",
            "Records read but not finished, per partition (what a crash would re-read).",
            ["topic", "partition"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "enricher_consumer_lag",
            "Records between the committed position and the partition's end.",
            ["topic", "partition"],
            registry=r,
        )
        self.committed_offset = Gauge(
            "enricher_committed_offset",
            "Last committed offset.",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "enricher_assigned_partitions", "Input partitions owned by this replica.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Children(Generic[M]):
    """A metric's labelled children, each looked up once: ``labels()`` validates its arguments
    and takes a lock on every call, which the per-record path would pay several times over.
    Only for label sets that are bounded (configured tenants, status classes)."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child
