"""structlog set-up: JSON lines for machines, console for people, secrets scrubbed in both."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from service.redaction import Redactor

__all__ = ["configure_logging", "quiet_library_logging", "route_library_logging"]


def _scrubber(redact: Redactor) -> structlog.types.Processor:
    def scrub(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redact(value)
        return event

    return scrub


_LIBRARIES = ("aiokafka", "asyncio")


def _renderer(fmt: str, out: TextIO) -> structlog.types.Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=out.isatty())
    return structlog.processors.JSONRenderer()


def configure_logging(fmt: str, level: str, redact: Redactor, stream: TextIO | None = None) -> None:
    """Every log line passes the redactor last before rendering, so a secret that slipped into
    an exception message or a vendor answer is masked wherever it came from.

    ``stream`` is standard error unless given (dev mode writes its log to a file, so the
    terminal keeps its dashboard)."""
    out = stream if stream is not None else sys.stderr
    renderer = _renderer(fmt, out)
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


def route_library_logging(fmt: str, level: str, redact: Redactor) -> None:
    """The libraries' own log records (aiokafka's, asyncio's) rendered like the service's
    lines, scrubbed too, and tagged with their logger: a collector that reads JSON would
    otherwise meet a plain-text line in the middle of the stream. For ``enricher run`` only:
    it replaces the root logger's handlers of the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _scrubber(redact),
                _renderer(fmt, sys.stderr),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.getLevelNamesMapping()[level.upper()])
    for name in _LIBRARIES:  # a long-running service keeps them: they say why a client waits
        logging.getLogger(name).setLevel(logging.NOTSET)
    # uvicorn's start-up chatter: the service's own "starting" line already says it.
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


def quiet_library_logging() -> None:
    """For the short commands (``dlq list``, ``dlq replay``): a failure ends in the command's
    own one or two lines, so the client library's log lines about the same failure would only
    bury them. ``enricher --debug`` leaves them on."""
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
