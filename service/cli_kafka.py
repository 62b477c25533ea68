"""What the broker-facing commands (``send``, ``topics``) say when the broker is not there.

A person running a command by hand needs the address that was tried and the setting that holds
it, not a client library's traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import click
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from service.failures import ExitCode
from service.settings import Settings

__all__ = ["broker_errors"]


@contextlib.contextmanager
def broker_errors(settings: Settings) -> Iterator[None]:
    """Turns "no broker answers" into two lines naming the address and the setting, with the
    exit code every command gives it (3).

    The client library's own connection log lines are silenced: they repeat the same fact
    with a traceback, between the command's output.
    """
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    logging.getLogger("aiokafka").propagate = False
    try:
        yield
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        address = settings.kafka_bootstrap_servers
        if isinstance(exc, KafkaConnectionError) and "Unable to bootstrap" not in str(exc):
            # Reached, then lost: saying "no broker answers" would send the user the wrong way.
            click.echo(f"error: the broker at {address} dropped the connection: {exc}", err=True)
            raise SystemExit(1) from None
        click.echo(
            f"error: no Kafka broker answers at {address} (ENRICHER_KAFKA_BOOTSTRAP_SERVERS)",
            err=True,
        )
        click.echo(
            "  start one (make dev prints its address) or set ENRICHER_KAFKA_BOOTSTRAP_SERVERS "
            "to yours",
            err=True,
        )
        raise SystemExit(ExitCode.BROKER_UNREACHABLE) from None
