"""structlog set-up: JSON lines for machines, console for people, secrets scrubbed in both."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from service.redaction import Redactor

__all__ = ["configure_logging"]


def _scrubber(redact: Redactor) -> structlog.types.Processor:
    def scrub(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redact(value)
        return event

    return scrub


def configure_logging(fmt: str, level: str, redact: Redactor, stream: TextIO | None = None) -> None:
    """Every log line passes the redactor last before rendering, so a secret that slipped into
    an exception message or a vendor answer is masked wherever it came from.

    ``stream`` is standard error unless given (dev mode writes its log to a file, so the
    terminal keeps its dashboard)."""
    out = stream if stream is not None else sys.stderr
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrubber(redact),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
