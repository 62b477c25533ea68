"""Vendor doubles served over loopback, for the test suite and ``enricher dev``.

``SIMULATORS`` maps a platform id (as used in the tenants file) to the factory of its app;
every factory builds an independent app with default dev-mode settings when called bare.
"""

from collections.abc import Callable

from fastapi import FastAPI

from service.simulators.eight_by_eight import EightByEightSimConfig
from service.simulators.eight_by_eight import create_app as create_eight_by_eight_app
from service.simulators.genesys_gws import GwsSimConfig
from service.simulators.genesys_gws import create_app as create_genesys_gws_app
from service.simulators.nice_cxone import NiceSimConfig
from service.simulators.nice_cxone import create_app as create_nice_cxone_app
from service.simulators.serve import run_simulator
from service.simulators.sinch_contact_pro import SinchSimConfig
from service.simulators.sinch_contact_pro import create_app as create_sinch_contact_pro_app

SIMULATORS: dict[str, Callable[..., FastAPI]] = {
    "nice-cxone": create_nice_cxone_app,
    "sinch-contact-pro": create_sinch_contact_pro_app,
    "8x8": create_eight_by_eight_app,
    "genesys-gws": create_genesys_gws_app,
}

__all__ = [
    "SIMULATORS",
    "EightByEightSimConfig",
    "GwsSimConfig",
    "NiceSimConfig",
    "SinchSimConfig",
    "create_eight_by_eight_app",
    "create_genesys_gws_app",
    "create_nice_cxone_app",
    "create_sinch_contact_pro_app",
    "run_simulator",
]
