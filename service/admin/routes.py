"""The ``/admin`` routes: interaction list and lookup, DLQ list and replay, lane status and
pause/resume, and the effective configuration.

Failures of what the routes depend on (the ledger, the broker) answer 503 with the reason, so
an operator can tell "your request is wrong" (4xx) from "the service cannot answer now" (503);
nothing an operator sends can make a route answer 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated, Any, Literal, NoReturn, cast

import structlog
from fastapi import APIRouter, HTTPException, Path, Query, Security
from fastapi.exceptions import RequestValidationError
from pydantic import Field, create_model
from starlette.convertors import Convertor, register_url_convertor

from service import __version__
from service.admin.audit import ADMIN_API_USER, audit_lane
from service.admin.auth import bearer_scheme, guarded_route
from service.admin.config_view import redacted_settings, redacted_tenants
from service.admin.context import AdminContext, LaneControl, LaneControls
from service.admin.dead_letters import decoded_value, replay
from service.admin.interactions import interaction_summary, interaction_view
from service.admin.models import (
    EXAMPLE_PLATFORM,
    BreakerName,
    ConfigView,
    DeadLetterPage,
    DeadLetterQuery,
    DeadLetterView,
    InteractionPage,
    InteractionQuery,
    InteractionSummary,
    InteractionView,
    LaneList,
    LaneView,
    Problem,
    ReplayRequest,
    ReplayResult,
)
from service.admin.scrub import scrub
from service.admin.selection import Cursor, page_of
from service.delivery.dlq_reader import DeadLetterRecord
from service.delivery.lanes import LaneStatus
from service.delivery.replay_state import Latest
from service.ledger.base import InvalidCursor

__all__ = ["admin_router"]

log = structlog.get_logger("enricher.admin")

_401: dict[str, Any] = {"model": Problem, "description": "The bearer token is missing or wrong."}
_404_LANE: dict[str, Any] = {
    "model": Problem,
    "description": "No such lane: the tenant is not configured or writes to another platform.",
}
_503: dict[str, Any] = {
    "model": Problem,
    "description": "A part the answer depends on (ledger, broker, lanes) is not available now.",
}


class _AnyText(Convertor[str]):
    """Interaction ids may hold any character: a slash, and even a newline, which the stock
    ``path`` convertor does not match."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", _AnyText())

TenantPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="A configured tenant.",
        openapi_examples={"acme": {"value": "acme"}},
    ),
]
PlatformPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The tenant's platform.",
        openapi_examples={EXAMPLE_PLATFORM: {"value": EXAMPLE_PLATFORM}},
    ),
]


def admin_router(ctx: AdminContext) -> APIRouter:
    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        route_class=guarded_route(ctx.token),
        dependencies=[Security(bearer_scheme)],
        responses={401: _401},
    )
    replaying = asyncio.Lock()

    async def list_interactions(query: Annotated[InteractionQuery, Query()]) -> InteractionPage:
        return await _interaction_page(query, ctx)

    # The tenants a deployment has are known here, so the schema names them: an unknown one
    # is refused (422) like any other value outside the schema, and Swagger UI offers a list.
    list_interactions.__annotations__["query"] = Annotated[_interaction_query(ctx.tenants), Query()]
    router.get(
        "/interactions",
        summary="Interactions in the ledger with their delivery state, one page at a time",
        responses={503: _503},
    )(list_interactions)

    @router.get(
        "/interactions/{tenant}/{interaction_id:anytext}",
        summary="An interaction: ledger entry, delivery state and recent attempts per platform",
        responses={
            404: {"model": Problem, "description": "Unknown tenant or interaction."},
            503: _503,
        },
    )
    async def get_interaction(
        tenant: TenantPath,
        interaction_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=256,
                description="The interaction id as in the events, URL-encoded (`/` as `%2F`).",
                openapi_examples={"call": {"value": "call-000123"}},
            ),
        ],
    ) -> InteractionView:
        config = ctx.tenants.get(tenant)
        if config is None:
            raise HTTPException(404, f"unknown tenant {tenant!r}")
        try:
            entry = await ctx.ledger.get(tenant, interaction_id, ctx.clock())
        except Exception as exc:  # any ledger failure: the operator cannot fix it by asking again
            raise _unavailable("the ledger cannot be read", exc) from None
        if entry is None:
            raise HTTPException(
                404,
                f"the ledger holds nothing for {tenant}:{interaction_id} "
                f"(never seen, expired {config.retention} after its last change, or parked "
                "unmerged in a retry topic while its vendor was not taking calls)",
            )
        return interaction_view(entry, config, ctx.recorder, ctx.redact)

    @router.get(
        "/dlq",
        summary="Dead letters with provenance, oldest first, one page at a time",
        responses={503: _503},
    )
    async def list_dead_letters(query: Annotated[DeadLetterQuery, Query()]) -> DeadLetterPage:
        return await _dead_letter_page(query, ctx)

    @router.post(
        "/dlq/replay",
        summary="Send selected dead letters back through their lane (or count them: dry_run)",
        responses={
            400: {"model": Problem, "description": "The body cannot be read as UTF-8 text."},
            409: {"model": Problem, "description": "Another replay is running."},
            503: _503,
        },
    )
    async def replay_dead_letters(request: ReplayRequest) -> ReplayResult:
        if replaying.locked():
            raise HTTPException(409, "another replay is running; try again when it has finished")
        async with replaying:
            selection = request.to_filter(ctx.clock())
            try:
                plan = await ctx.dead_letters.plan(selection, max_replays=request.max_replays)
            except Exception as exc:
                raise _unavailable("the DLQ topic cannot be read", exc) from None
            summary = plan.summary
            if not request.dry_run and plan.records:
                try:
                    summary = await replay(ctx.dead_letters, plan, user=ADMIN_API_USER)
                except Exception as exc:
                    raise _unavailable(
                        f"replay stopped after {plan.summary.replayed} of {len(plan.records)}", exc
                    ) from None
        return ReplayResult(
            dry_run=request.dry_run,
            selected=summary.selected,
            to_replay=len(plan.records),
            replayed=summary.replayed,
            skipped_replay_limit=summary.skipped_replay_limit,
            by_reason=dict(summary.by_reason),
            skipped_superseded=summary.skipped_superseded,
            skipped_claimed=summary.skipped_claimed,
            skipped_original_gone=summary.skipped_original_gone,
        )

    @router.get(
        "/lanes", summary="Every lane's limits, load, breaker and pause", responses={503: _503}
    )
    async def list_lanes() -> LaneList:
        lanes = _lanes(ctx)
        return LaneList(lanes=[_lane_view(s) for s in lanes.statuses()])

    @router.post(
        "/lanes/{tenant}/{platform}/pause",
        summary="Stop calling this lane's vendor until resumed; its work waits in retry tiers",
        responses={404: _404_LANE, 503: _503},
    )
    async def pause_lane(tenant: TenantPath, platform: PlatformPath) -> LaneView:
        lane = _lane(ctx, tenant, platform)
        lane.pause()
        audit_lane("paused", tenant, platform, user=ADMIN_API_USER)
        return _lane_view(lane.status())

    @router.post(
        "/lanes/{tenant}/{platform}/resume",
        summary="Call the vendor again (also ends a Retry-After pause early)",
        responses={404: _404_LANE, 503: _503},
    )
    async def resume_lane(tenant: TenantPath, platform: PlatformPath) -> LaneView:
        lane = _lane(ctx, tenant, platform)
        lane.resume()
        audit_lane("resumed", tenant, platform, user=ADMIN_API_USER)
        return _lane_view(lane.status())

    @router.get("/config", summary="Effective settings and tenants, every secret redacted")
    async def get_config() -> ConfigView:
        return ConfigView(
            service_version=__version__,
            settings=redacted_settings(ctx.settings, ctx.redact),
            tenants=redacted_tenants(ctx.tenants, ctx.redact),
        )

    return router


_LEDGER_PAGES_PER_ANSWER = 20
"""Ledger pages one answer reads at most: a state that few interactions are in ends a page
early (with a cursor) instead of reading the whole ledger in one request."""


def _interaction_query(tenants: Iterable[str]) -> type[InteractionQuery]:
    """:class:`InteractionQuery` whose ``tenant`` is one of ``tenants``."""
    names = tuple(sorted(tenants))
    if not names:
        return InteractionQuery
    field = InteractionQuery.model_fields["tenant"]
    one_of: Any = cast("Any", Literal)[names]
    model: type[InteractionQuery] = create_model(
        "InteractionQuery",
        __base__=InteractionQuery,
        tenant=(one_of | None, Field(default=None, description=field.description)),
    )
    return model


async def _interaction_page(query: InteractionQuery, ctx: AdminContext) -> InteractionPage:
    # Any hex decodes to a position: a SQLite cursor is a key, and any text is one.
    cursor = bytes.fromhex(query.cursor).decode("utf-8", "replace") if query.cursor else None
    found: list[InteractionSummary] = []
    now = ctx.clock()
    for _ in range(_LEDGER_PAGES_PER_ANSWER):
        try:
            page = await ctx.ledger.list_entries(
                query.tenant, now, limit=query.limit - len(found), cursor=cursor
            )
        except InvalidCursor:
            _invalid("cursor", query.cursor, "not a cursor this endpoint gave out")
        except Exception as exc:
            raise _unavailable("the ledger cannot be listed", exc) from None
        for entry in page.entries:
            tenant = ctx.tenants.get(entry.tenant)
            if tenant is None:  # no longer configured: nothing will deliver it
                continue
            summary = interaction_summary(entry, tenant, tenant.settings.write_window())
            if query.state is None or summary.state == query.state:
                found.append(summary)
        cursor = page.cursor
        if cursor is None or len(found) == query.limit:
            break
    next_cursor = cursor.encode().hex() if cursor else None
    return InteractionPage(interactions=found, next_cursor=next_cursor)


def _invalid(name: str, value: object, message: str) -> NoReturn:
    """A 422 shaped as FastAPI's own, for what a schema cannot state (a cursor of this
    ledger's kind)."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def _unavailable(what: str, exc: Exception) -> HTTPException:
    log.warning("admin_dependency_failed", what=what, error=f"{type(exc).__name__}: {exc}")
    return HTTPException(503, f"{what}: {type(exc).__name__}")


def _lanes(ctx: AdminContext) -> LaneControls:
    lanes = ctx.lanes()
    if lanes is None:
        raise HTTPException(503, "the lanes are not running yet (the service is starting)")
    return lanes


def _lane(ctx: AdminContext, tenant: str, platform: str) -> LaneControl:
    lane = _lanes(ctx).lane(tenant, platform)
    if lane is None:
        raise HTTPException(404, f"no lane for tenant {tenant!r} and platform {platform!r}")
    return lane


def _lane_view(status: LaneStatus) -> LaneView:
    return LaneView(
        tenant=status.tenant,
        platform=status.platform,
        limit=status.limit,
        max_concurrency=status.max_concurrency,
        in_flight=status.in_flight,
        queued=status.queued,
        rate_per_second=status.rate_per_second,
        breaker=cast("BreakerName", status.breaker),
        paused=status.paused_by_operator or status.paused_until is not None,
        paused_by_operator=status.paused_by_operator,
        paused_until=status.paused_until,
        oldest_waiting_seconds=status.oldest_waiting_seconds,
    )


async def _dead_letter_page(query: DeadLetterQuery, ctx: AdminContext) -> DeadLetterPage:
    selection = query.to_filter(ctx.clock())
    states: dict[tuple[int, int], Latest] = {}
    try:
        if query.latest:
            latest = await ctx.dead_letters.read_latest(selection)
            states = {(s.letter.partition, s.letter.offset): s for s in latest}
            records = [s.letter for s in latest]
        else:
            records = await ctx.dead_letters.read(selection)
    except Exception as exc:  # broker unreachable or the topic unreadable in time
        raise _unavailable("the DLQ topic cannot be read", exc) from None
    after = Cursor.parse(query.cursor) if query.cursor else None
    page = page_of(records, limit=query.limit, after=after)
    return DeadLetterPage(
        records=[
            _dead_letter_view(r, ctx, states.get((r.partition, r.offset))) for r in page.records
        ],
        matching=page.matching,
        next_cursor=str(page.next_cursor) if page.next_cursor else None,
    )


def _dead_letter_view(
    record: DeadLetterRecord, ctx: AdminContext, latest: Latest | None = None
) -> DeadLetterView:
    provenance = {k: ctx.redact(v) for k, v in record.provenance.items()}
    return DeadLetterView(
        state=cast("Literal['dead_lettered', 'replayed']", latest.state) if latest else None,
        replays=latest.replays if latest else None,
        copies=latest.copies if latest else None,
        partition=record.partition,
        offset=record.offset,
        written_at=record.written_at,
        key=ctx.redact(record.key.decode("utf-8", "replace")) if record.key else None,
        reason=provenance.get("reason"),
        tenant=provenance.get("tenant"),
        platform=provenance.get("platform"),
        interaction_id=provenance.get("interaction_id"),
        provenance=provenance,
        value=scrub(decoded_value(record), ctx.redact),
    )
