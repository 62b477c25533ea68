"""A lane's settings (from the service's settings) and the status it shows operators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from service.delivery.governor import GovernorConfig
from service.delivery.retry_policy import RetryRules
from service.delivery.retry_topics import RetryTier

__all__ = ["LaneConfig", "LaneStatus"]


@dataclass(frozen=True, slots=True)
class LaneConfig:
    tiers: Sequence[RetryTier]
    queue_limit: int = 1000
    """Interactions waiting in one lane before new ones are parked in the retry topic."""
    base_delay: float = 0.5
    max_delay: float = 10.0
    """Longest in-process backoff; a vendor asking for more gets its records parked."""
    max_pause: float = 300.0
    """Cap on a lane pause from ``Retry-After``, so a bogus header cannot stop a lane for days."""
    breaker_failures: int = 5
    breaker_cool_down: float = 5.0
    initial_limit: int = 16

    def governor(self) -> GovernorConfig:
        """A pause up to the first tier's delay is waited out in memory; a longer one parks."""
        return GovernorConfig(
            self.breaker_failures,
            self.breaker_cool_down,
            self.initial_limit,
            self.max_pause,
            wait_out=self.tiers[0].delay,
        )

    def retry_rules(self, max_attempts: int) -> RetryRules:
        """The retry policy's rules for a tenant that allows ``max_attempts`` calls a round."""
        return RetryRules(self.tiers, max_attempts, self.max_delay, self.max_pause)


@dataclass(frozen=True, slots=True)
class LaneStatus:
    tenant: str
    platform: str
    limit: int
    max_concurrency: int
    in_flight: int
    queued: int
    rate_per_second: float
    breaker: str
    paused_until: datetime | None
    paused_by_operator: bool
    oldest_waiting_seconds: float
