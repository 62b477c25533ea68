"""The HTTP surface (DESIGN 8, a contract): ``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service import __version__
from service.health import Health
from service.metrics import Metrics

__all__ = ["create_app"]


def create_app(health: Health, metrics: Metrics) -> FastAPI:
    app = FastAPI(
        title="Interaction enricher",
        version=__version__,
        description="Health, readiness and metrics of the interaction enricher.",
    )

    @app.get("/healthz", summary="Liveness: the loop answers and the consumer makes progress")
    async def healthz() -> JSONResponse:
        ok, body = health.live()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/readyz", summary="Readiness: started, group joined, ledger reachable, not stopping")
    async def readyz() -> JSONResponse:
        ok, body = await health.ready()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics, prefixed enricher_")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
