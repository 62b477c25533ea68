"""Vendor doubles served over loopback, for the test suite and ``enricher dev``.

``SIMULATORS`` maps a platform id (as used in the tenants file) to the factory of its app;
every factory builds an independent app with default dev-mode settings when called bare.
"""

from collections.abc import Callable

from fastapi import FastAPI

from service.simulators.nice_cxone import NiceSimConfig
from service.simulators.nice_cxone import create_app as create_nice_cxone_app
from service.simulators.serve import run_simulator

SIMULATORS: dict[str, Callable[..., FastAPI]] = {
    "nice-cxone": create_nice_cxone_app,
}

__all__ = [
    "SIMULATORS",
    "NiceSimConfig",
    "create_nice_cxone_app",
    "run_simulator",
]
