"""What the admin API works on, as narrow interfaces: the service passes its real parts, tests
pass in-memory ones, and the routes cannot tell the difference."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import SecretStr

from service.admin.dead_letters import DeadLetterStore
from service.admin.recorder import OutcomeRecorder
from service.delivery.lanes import LaneStatus
from service.ledger.base import EntryPage
from service.merge import LedgerEntry
from service.settings import Settings
from service.tenants import Tenant

__all__ = ["AdminContext", "LaneControl", "LaneControls", "LedgerReader"]


class LedgerReader(Protocol):
    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None: ...

    async def list_entries(
        self, tenant: str | None, now: datetime, *, limit: int, cursor: str | None
    ) -> EntryPage: ...


class LaneControl(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def status(self) -> LaneStatus: ...


class LaneControls(Protocol):
    def statuses(self) -> list[LaneStatus]: ...

    def lane(self, tenant: str, platform: str) -> LaneControl | None: ...


@dataclass
class AdminContext:
    token: SecretStr
    settings: Settings
    tenants: Mapping[str, Tenant]
    ledger: LedgerReader
    lanes: Callable[[], LaneControls | None]
    """The lanes exist once the pipeline has started; until then lane routes answer 503."""
    recorder: OutcomeRecorder
    dead_letters: DeadLetterStore
    redact: Callable[[str], str]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
