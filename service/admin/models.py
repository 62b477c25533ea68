"""Request and response bodies of the admin API: its OpenAPI contract.

Every model forbids unknown keys on input, so a misspelt filter in a replay request is refused
instead of silently widening the selection to the whole DLQ.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from service.admin.selection import (
    CURSOR_PATTERN,
    DURATION_PATTERN,
    InteractionId,
    PlatformName,
    Reason,
    TenantName,
    dead_letter_filter,
    exact_moment,
    parse_moment,
)
from service.delivery.dlq_reader import DeadLetterFilter
from service.platforms.registry import built_in

__all__ = [
    "AttemptView",
    "BreakerName",
    "ConfigView",
    "DeadLetterPage",
    "DeadLetterQuery",
    "DeadLetterSelection",
    "DeadLetterView",
    "FieldView",
    "InteractionPage",
    "InteractionQuery",
    "InteractionState",
    "InteractionSummary",
    "InteractionView",
    "LaneList",
    "LaneView",
    "PlatformDeliveryView",
    "Problem",
    "ReplayRequest",
    "ReplayResult",
]

BreakerName = Literal["closed", "open", "half_open"]
Moment = Annotated[
    str,
    AfterValidator(exact_moment),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "string", "format": "date-time"},
            ]
        }
    ),
]
"""A duration ago (``24h``, ``30m``, ``7d``) or an RFC 3339 time, whose zone is never guessed."""

EXAMPLE_PLATFORM = built_in()[0].id
"""The platform the OpenAPI document's examples name: the first built-in one."""


def _whole_number(value: Any) -> Any:
    """JSON Schema counts ``3.0`` as an integer, so it is one here too; ``"3"`` and ``true`` are
    not counts, whatever lax parsing would make of them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(_Output):
    """Every error other than a validation error (422) has this body."""

    detail: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"detail": f"no lane for tenant 'acme' and platform '{EXAMPLE_PLATFORM}'"}]
        }
    )


# -- interactions -------------------------------------------------------------------------------


class AttemptView(_Output):
    at: datetime
    revision: int = Field(description="The ledger revision the attempt sent (or found).")
    result: Literal["delivered", "held", "up_to_date", "failed"]
    reason: str = Field(description="The outcome code, as in the DLQ's `enricher.reason`.")
    retryable: bool | None = Field(
        description="For a failure: transient (retried, then parked) or permanent (DLQ)."
    )
    http_status: int | None
    error_class: str | None
    excerpt: str | None = Field(description="The vendor's answer, short, secrets masked.")
    called: bool = Field(description="Whether the vendor was called at all.")
    elapsed_ms: float | None


class PlatformDeliveryView(_Output):
    platform: str
    current_revision: int
    delivered_revision: int = Field(description="The last revision the platform acknowledged.")
    up_to_date: bool
    recent_attempts: list[AttemptView] = Field(
        description="The last few attempts of this replica, newest first (kept in memory)."
    )


class FieldView(_Output):
    value: Any = Field(description="The merged value; `***` for a privacy-flagged field.")
    at: datetime = Field(description="`occurred_at` of the event that wrote it.")
    event_id: str
    masked: bool = False


class InteractionView(_Output):
    tenant: str
    interaction_id: str
    revision: int
    closed: bool
    closed_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None = Field(description="When the entry leaves the ledger.")
    routing: dict[str, Any] = Field(description="Platform ids, channel and contact status.")
    fields: dict[str, FieldView]
    platforms: list[PlatformDeliveryView]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "acme",
                    "interaction_id": "call-000123",
                    "revision": 2,
                    "closed": True,
                    "closed_at": "2026-11-20T10:15:00Z",
                    "created_at": "2026-11-20T10:15:01Z",
                    "updated_at": "2026-11-20T10:17:31Z",
                    "expires_at": "2026-11-27T10:17:31Z",
                    "routing": {"ref.contact_id": "8675309", "channel": "voice"},
                    "fields": {
                        "sentiment.label": {
                            "value": "negative",
                            "at": "2026-11-20T10:17:30Z",
                            "event_id": "0b7e1c6a-2f43-4f0e-a1f5-6c1d1c0f2b77",
                            "masked": False,
                        }
                    },
                    "platforms": [
                        {
                            "platform": EXAMPLE_PLATFORM,
                            "current_revision": 2,
                            "delivered_revision": 1,
                            "up_to_date": False,
                            "recent_attempts": [
                                {
                                    "at": "2026-11-20T10:17:32Z",
                                    "revision": 2,
                                    "result": "failed",
                                    "reason": "rejected",
                                    "retryable": False,
                                    "http_status": 400,
                                    "error_class": "VendorRejected",
                                    "excerpt": "fields not defined: CaseNumber",
                                    "called": True,
                                    "elapsed_ms": 41.7,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


# -- the interaction list -----------------------------------------------------------------------

InteractionState = Literal["pending", "held", "delivered"]
"""Where an interaction stands with its tenant's platform."""

LIST_CURSOR_PATTERN = r"^([0-9a-f]{2}){1,1024}$"
"""The ledger's own cursor, hex-encoded: a SQLite cursor is the last key shown, which may hold
any character an interaction id does."""


class InteractionQuery(_Input):
    """Unset filters match everything; set ones must all match."""

    tenant: TenantName | None = Field(
        default=None, description="A configured tenant (the API's schema lists them)."
    )
    state: InteractionState | None = Field(
        default=None,
        description="`delivered`: the platform acknowledged the latest revision. `held`: the "
        "latest revision waits for the interaction to close (after-close platforms, and "
        "live ones before the interaction's routing ids are known). `pending`: the latest "
        "revision is still to be delivered (queued, being retried, parked in a retry topic, "
        "or dead-lettered).",
    )
    limit: int = Field(default=50, ge=1, le=500, description="Interactions per page.")
    cursor: Annotated[str, StringConstraints(pattern=LIST_CURSOR_PATTERN)] | None = Field(
        default=None, description="`next_cursor` of the previous page."
    )


class InteractionSummary(_Output):
    tenant: str
    interaction_id: str
    platform: str = Field(description="The tenant's platform, which `state` is about.")
    state: InteractionState
    revision: int = Field(description="The latest revision of the merged data.")
    delivered_revision: int = Field(description="The last revision the platform acknowledged.")
    closed: bool
    updated_at: datetime | None
    expires_at: datetime | None = Field(description="When the entry leaves the ledger.")


class InteractionPage(_Output):
    interactions: list[InteractionSummary] = Field(
        description="In the ledger's order (by key on SQLite; unordered on Redis)."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end. A page can hold "
        "fewer than `limit` interactions and still have a next one: each answer reads a "
        "bounded part of the ledger."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "interactions": [
                        {
                            "tenant": "acme",
                            "interaction_id": "call-000123",
                            "platform": EXAMPLE_PLATFORM,
                            "state": "pending",
                            "revision": 2,
                            "delivered_revision": 1,
                            "closed": True,
                            "updated_at": "2026-11-20T10:17:31Z",
                            "expires_at": "2026-11-27T10:17:31Z",
                        }
                    ],
                    "next_cursor": "61636d653a63616c6c2d303030313233",
                }
            ]
        }
    )


# -- dead letters -------------------------------------------------------------------------------


class DeadLetterSelection(_Input):
    """Unset filters match everything; set ones must all match."""

    tenant: TenantName | None = None
    platform: PlatformName | None = None
    reason: Reason | None = Field(default=None, examples=["rejected"])
    interaction: InteractionId | None = Field(default=None, examples=["call-000123"])
    since: Moment | None = Field(
        default=None,
        description="Written at or after: a duration ago such as `24h`, or an RFC 3339 time.",
        examples=["24h"],
    )
    until: Moment | None = Field(
        default=None, description="Written before: a duration ago, or an RFC 3339 time."
    )

    def to_filter(self, now: datetime) -> DeadLetterFilter:
        """Durations are taken back from ``now``, the moment the request is served."""
        return dead_letter_filter(
            tenant=self.tenant,
            platform=self.platform,
            reason=self.reason,
            interaction_id=self.interaction,
            since=parse_moment(self.since, now),
            until=parse_moment(self.until, now),
        )


class DeadLetterQuery(DeadLetterSelection):
    limit: int = Field(default=50, ge=1, le=500, description="Records per page.")
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None, description="`next_cursor` of the previous page."
    )
    latest: bool = Field(
        default=False,
        description="One record per original input record (source topic, partition, offset) "
        "with a dead letter matching: its newest dead letter, with `state`, `replays` and "
        "`copies`.",
    )


class DeadLetterView(_Output):
    partition: int
    offset: int
    written_at: datetime
    key: str | None
    reason: str | None
    tenant: str | None
    platform: str | None
    interaction_id: str | None
    provenance: dict[str, str] = Field(description="The `enricher.*` headers, prefix removed.")
    value: Any = Field(
        description="The original event (JSON when it parses, else text); privacy-flagged "
        "fields stay masked as they were written. Null when the dead letter was written "
        "without its value (`provenance.omitted`)."
    )
    state: Literal["dead_lettered", "replayed"] | None = Field(
        default=None,
        description="With `latest=true`: `replayed` when a replay was sent after this newest "
        "dead letter (in flight, or delivered), else `dead_lettered`.",
    )
    replays: int | None = Field(
        default=None, description="With `latest=true`: how often the original was replayed."
    )
    copies: int | None = Field(
        default=None, description="With `latest=true`: the original's dead letters in the DLQ."
    )


class DeadLetterPage(_Output):
    records: list[DeadLetterView]
    matching: int = Field(description="Records matching the selection, all pages together.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "partition": 0,
                            "offset": 17,
                            "written_at": "2026-11-20T10:17:33Z",
                            "key": "acme:call-000123",
                            "reason": "rejected",
                            "tenant": "acme",
                            "platform": EXAMPLE_PLATFORM,
                            "interaction_id": "call-000123",
                            "provenance": {
                                "reason": "rejected",
                                "http_status": "400",
                                "attempts": "1",
                                "tenant": "acme",
                                "platform": EXAMPLE_PLATFORM,
                                "interaction_id": "call-000123",
                            },
                            "value": {"type": "interaction.closed", "tenant": "acme"},
                        }
                    ],
                    "matching": 1,
                    "next_cursor": None,
                }
            ]
        }
    )


class ReplayRequest(DeadLetterSelection):
    """Strict types: a ``"dry_run": "no"`` or ``0`` must not be read as a wish to send."""

    dry_run: StrictBool = Field(
        default=False, description="Count what would be replayed; send nothing."
    )
    max_replays: WholeNumber = Field(
        default=3,
        ge=1,
        le=100,
        description="Skip records already replayed this often, so a change the vendor never "
        "takes cannot loop between the DLQ and the lane.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"tenant": "acme", "reason": "rejected", "since": "24h", "dry_run": True}]
        }
    )


class ReplayResult(_Output):
    dry_run: bool
    selected: int = Field(description="Dead letters matching the selection.")
    to_replay: int = Field(
        description="Original records selected (each from its newest dead letter) and under "
        "the `max_replays` limit."
    )
    replayed: int = Field(description="Written to the first retry tier (0 on a dry run).")
    skipped_replay_limit: int = Field(
        description="Originals already replayed `max_replays` times, counted over every copy."
    )
    by_reason: dict[str, int] = Field(description="`to_replay` by DLQ reason.")
    skipped_superseded: int = Field(
        default=0,
        description="Selected dead letters with a newer copy of the same original record: "
        "only the newest copy of each original is replayed.",
    )
    skipped_claimed: int = Field(
        default=0, description="Originals a replay running at the same time claimed first."
    )
    skipped_original_gone: int = Field(
        default=0,
        description="Dead letters written without their value whose original the input "
        "topic no longer holds.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": False,
                    "selected": 3,
                    "to_replay": 2,
                    "replayed": 2,
                    "skipped_replay_limit": 1,
                    "by_reason": {"rejected": 2},
                }
            ]
        }
    )


# -- lanes --------------------------------------------------------------------------------------


class LaneView(_Output):
    tenant: str
    platform: str
    limit: int = Field(description="The adaptive concurrency limit now.")
    max_concurrency: int
    in_flight: int
    queued: int = Field(description="Interactions waiting for a call.")
    rate_per_second: float = Field(description="The rate cap (token bucket).")
    breaker: BreakerName
    paused: bool = Field(description="Paused by an operator or by the vendor's Retry-After.")
    paused_by_operator: bool
    paused_until: datetime | None = Field(description="End of a Retry-After pause, if any.")
    oldest_waiting_seconds: float

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "acme",
                    "platform": EXAMPLE_PLATFORM,
                    "limit": 16,
                    "max_concurrency": 32,
                    "in_flight": 3,
                    "queued": 0,
                    "rate_per_second": 20.0,
                    "breaker": "closed",
                    "paused": False,
                    "paused_by_operator": False,
                    "paused_until": None,
                    "oldest_waiting_seconds": 0.0,
                }
            ]
        }
    )


class LaneList(_Output):
    lanes: list[LaneView]


# -- configuration ------------------------------------------------------------------------------


class ConfigView(_Output):
    service_version: str
    settings: dict[str, Any] = Field(description="Effective `ENRICHER_*` settings, redacted.")
    tenants: dict[str, Any] = Field(description="The tenants file as loaded, secrets redacted.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_version": "0.1.0",
                    "settings": {"group_id": "interaction-enricher", "admin_token": "[redacted]"},
                    "tenants": {
                        "acme": {
                            "platform": EXAMPLE_PLATFORM,
                            EXAMPLE_PLATFORM: {"client_secret": "[redacted]"},
                        }
                    },
                }
            ]
        }
    )
