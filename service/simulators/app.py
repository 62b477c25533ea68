"""What every vendor simulator's app is made of, so that each simulator holds only its vendor.

A simulator is a FastAPI app with its offline ``/docs``, its state on ``app.state.sim``, the
control routes under ``/_sim`` (its own, then the shared fault and request-log routes) and the
vendor's routes. The control routes go first: a vendor whose routes take any path (the generic
HTTP endpoint) must not swallow ``/_sim``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI

from service.openapi_ui import serve_docs
from service.simulators.faults import (
    FaultInjector,
    RequestLog,
    mount_fault_routes,
    mount_request_log_routes,
)

__all__ = ["mount_simulator", "simulator_app"]


def simulator_app(title: str, module_doc: str | None) -> FastAPI:
    """An empty simulator app whose description is its module docstring's first paragraph."""
    app = FastAPI(
        title=title,
        description=(module_doc or "").split("\n\n", 1)[0],
        docs_url=None,
        redoc_url=None,
    )
    serve_docs(app)
    return app


def mount_simulator(
    app: FastAPI,
    state: object,
    *,
    faults: FaultInjector,
    log: RequestLog,
    vendor: APIRouter,
    control: Callable[[FastAPI], None],
) -> FastAPI:
    app.state.sim = state
    control(app)
    mount_fault_routes(app, faults)
    mount_request_log_routes(app, log)
    app.include_router(vendor)
    return app
