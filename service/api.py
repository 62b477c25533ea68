"""The HTTP surface (a contract): ``/healthz``, ``/readyz``, ``/metrics`` and, when an
admin token is configured, ``/admin``.

Without a token the admin routes do not exist at all: they answer 404 like any unknown path
and are absent from the OpenAPI document, so an unconfigured deployment exposes nothing.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from service import __version__
from service.admin.context import AdminContext
from service.health import Health
from service.metrics import Metrics
from service.openapi_ui import serve_docs

__all__ = ["PROMETHEUS_TEXT", "create_app"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
"""The classic Prometheus text format, which is what the registry renders (metric names kept to
the legacy character set). Named here rather than taken from ``prometheus_client``, whose
"latest" changes with its version while the body does not."""

_METRICS_EXAMPLE = """\
# HELP enricher_delivered_total Changes acknowledged by the platform.
# TYPE enricher_delivered_total counter
enricher_delivered_total{platform="http",tenant="acme"} 42.0
"""


class PrometheusText(Response):
    """The media type on the response class, so the OpenAPI document and the answer agree."""

    media_type = PROMETHEUS_TEXT


_DESCRIPTION = "Health, readiness and metrics of the interaction enricher."
_ADMIN_DESCRIPTION = (
    " The `/admin` routes (interaction lookup, dead letters and replay, lanes, configuration)"
    " need `Authorization: Bearer <ENRICHER_ADMIN_TOKEN>`."
)


def create_app(health: Health, metrics: Metrics, admin: AdminContext | None = None) -> FastAPI:
    enabled = admin is not None and bool(admin.token.get_secret_value())
    app = FastAPI(
        title="Interaction enricher",
        version=__version__,
        description=_DESCRIPTION + (_ADMIN_DESCRIPTION if enabled else ""),
        docs_url=None,
        redoc_url=None,
    )
    serve_docs(app)

    @app.get("/healthz", summary="Liveness: the loop answers and the consumer makes progress")
    async def healthz() -> JSONResponse:
        ok, body = health.live()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/readyz",
        summary="Readiness: started, group joined, ledger and broker reachable, not stopping",
    )
    async def readyz() -> JSONResponse:
        ok, body = await health.ready()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        summary="Prometheus metrics, prefixed enricher_",
        response_class=PrometheusText,
        responses={
            200: {
                "description": "Every metric in the Prometheus text format",
                "content": {PROMETHEUS_TEXT: {"example": _METRICS_EXAMPLE}},
            }
        },
    )
    async def prometheus() -> PrometheusText:
        return PrometheusText(metrics.render())

    if admin is not None and enabled:
        from service.admin.routes import admin_router

        app.include_router(admin_router(admin))

    return app
