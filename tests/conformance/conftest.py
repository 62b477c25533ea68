"""The conformance suite runs the real service against each platform's simulator, with the
integration suite's fixtures (broker, service, request helpers)."""

from tests.integration.conftest import run_service, sim

__all__ = ["run_service", "sim"]
