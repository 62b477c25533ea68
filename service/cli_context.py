"""What every ``enricher`` command shares: the settings, read with a user's mistakes told as
such, the event loop commands run on, and what the error handler needs to know afterwards.

The command modules (``cli``, ``cli_send``, ``cli_topics``) all import this one and none of
them another's internals, so the commands form no import cycle.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from service.failures import ExitCode
from service.settings import Settings, settings_problems

__all__ = ["BOOTSTRAP_VAR", "Invocation", "invocation", "load_settings", "run_async"]

T = TypeVar("T")

BOOTSTRAP_VAR = "ENRICHER_KAFKA_BOOTSTRAP_SERVERS"


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """uvloop where available: it makes the vendor-call path 15-40% cheaper (anchors/ceilings)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


class Invocation:
    """What the group's options and the settings decided, for the error handler, which runs
    after their contexts are gone."""

    debug = False
    """``enricher --debug``: failures end in their traceback, and library log lines stay on."""
    bootstrap_source = BOOTSTRAP_VAR
    """Where the broker address came from, for "no broker answers at ..."."""


invocation = Invocation()


def load_settings(*, find_dev: bool = False) -> Settings:
    """The ``ENRICHER_*`` settings; with ``find_dev``, a running ``enricher dev`` fills in
    what is unset, when ``ENRICHER_KAFKA_BOOTSTRAP_SERVERS`` is (stderr says so)."""
    overrides: dict[str, object] = {}
    if find_dev and not any(k.upper() == BOOTSTRAP_VAR for k in os.environ):
        from service.dev.state import read_state, settings_overrides, state_path

        state = read_state()
        if state is not None:
            overrides = settings_overrides(state, os.environ)
            click.echo(
                f"using the dev system of `enricher dev` (pid {state.pid}): broker "
                f"{state.bootstrap_servers}, admin API {state.admin_url} (from {state_path()}; "
                f"set {BOOTSTRAP_VAR} to use another broker)",
                err=True,
            )
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for line in settings_problems(exc):
            click.echo(line, err=True)
        raise SystemExit(ExitCode.CONFIG) from None
    invocation.bootstrap_source = (
        "from the running `enricher dev`"
        if "kafka_bootstrap_servers" in overrides
        else BOOTSTRAP_VAR
        if any(k.upper() == BOOTSTRAP_VAR for k in os.environ)
        else f"the default; {BOOTSTRAP_VAR} is not set"
    )
    return settings
