"""What became of one record: delivered (or nothing to do), parked in a retry tier, or dead.

Every record a lane takes gets exactly one. Each kind carries only what it means: a parked
record always knows its tier and its due time, decided once by :mod:`service.delivery.retry_policy`,
so the pipeline that writes it to the retry topic reads them instead of working them out again.
``kind`` names the variant for code that only counts or labels settlements.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from service.mapping import FieldProblem
from service.platforms.outcomes import Outcome

__all__ = ["Dead", "Done", "Parked", "Settlement", "SettlementKind"]


class SettlementKind(enum.Enum):
    DONE = "done"
    PARK = "park"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing left to do for the record: delivered, held for the write window, or already up
    to date (``reason`` says which)."""

    kind: ClassVar[SettlementKind] = SettlementKind.DONE
    platform: str
    reason: str
    revision: int = 0
    outcome: Outcome | None = None
    attempts: int = 0
    problems: tuple[FieldProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class Parked:
    """Goes to retry tier ``tier``, not to be tried again before ``due_at`` (epoch seconds)."""

    kind: ClassVar[SettlementKind] = SettlementKind.PARK
    platform: str
    reason: str
    tier: int
    due_at: float
    revision: int = 0
    outcome: Outcome | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    problems: tuple[FieldProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class Dead:
    """Goes to the dead-letter topic: refused for good, or out of retry tiers."""

    kind: ClassVar[SettlementKind] = SettlementKind.DEAD
    platform: str
    reason: str
    revision: int = 0
    outcome: Outcome | None = None
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    problems: tuple[FieldProblem, ...] = ()


Settlement = Done | Parked | Dead
