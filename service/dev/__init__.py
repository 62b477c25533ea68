"""Local-only helpers for ``enricher dev`` and the test suite; never used by ``enricher run``."""
