"""Interaction enricher: merges CRM and analytics facts per interaction into contact-center
platforms, each a plug-in (:mod:`service.platforms.registry`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("interaction-enricher")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
