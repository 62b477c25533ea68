"""Fault tests: the real service, as in-process services or as ``enricher run`` replicas, against
the real broker, Redis and vendor simulators, with crashes, outages and bad input injected.

The integration fixtures (``sim``, ``run_service``) are reused here rather than copied.
"""

from __future__ import annotations

from tests.integration.conftest import run_service, sim

__all__ = ["run_service", "sim"]
