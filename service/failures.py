"""What a user sees when a command or the service's start-up fails (docs/reference/errors.md).

A failure a user can cause ends in at most two lines on stderr, the first naming the thing
(setting, address, port, file), the second the fix, and in an exit code per class, so a script
or a supervisor can tell a typo from an outage without parsing text. Pure: exceptions in, words
and a number out; the command line prints them.
"""

from __future__ import annotations

import errno
from enum import IntEnum

__all__ = [
    "ExitCode",
    "Failure",
    "broker_refused_idempotence",
    "broker_unreachable",
    "describe",
    "ledger_unavailable",
    "port_unavailable",
]


class ExitCode(IntEnum):
    """One code per class of failure; 0, 1 and 2 keep their long-standing meaning."""

    OK = 0
    FAILED = 1
    """Stopped on an error that is not one of the classes below (or ``check-config`` found
    problems): the message says what; ``enricher --debug`` shows the traceback."""
    CONFIG = 2
    """A command-line option, an ``ENRICHER_*`` setting or the tenants file is wrong."""
    BROKER_UNREACHABLE = 3
    LEDGER_UNREACHABLE = 4
    PORT_IN_USE = 5
    BROKER_REFUSED = 6
    """The broker answered but refused what the settings ask of it (an idempotent producer)."""


class Failure(Exception):
    """A failure the user can fix: ``what`` names the thing, ``fix`` says what to do."""

    def __init__(self, what: str, fix: str, code: ExitCode) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.code = code

    def lines(self) -> list[str]:
        return [f"error: {self.what}", f"  fix: {self.fix}"]


def broker_unreachable(bootstrap: str, source: str) -> Failure:
    """``source`` says where the address came from: the variable, or the dev state file."""
    return Failure(
        f"no Kafka broker answers at {bootstrap} ({source})",
        "start the broker, or set ENRICHER_KAFKA_BOOTSTRAP_SERVERS to its host:port",
        ExitCode.BROKER_UNREACHABLE,
    )


def broker_refused_idempotence(bootstrap: str, error: str) -> Failure:
    return Failure(
        f"the Kafka broker at {bootstrap} refused an idempotent producer ({error})",
        "use a broker that supports idempotent producers, or set "
        "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE=false to accept possible duplicate writes on retry",
        ExitCode.BROKER_REFUSED,
    )


def ledger_unavailable(address: str, error: str) -> Failure:
    return Failure(
        f"the ledger at {address} cannot be opened (ENRICHER_LEDGER_URL): {error}",
        "check ENRICHER_LEDGER_URL: for SQLite a file in a directory this user may write, "
        "for Redis its address and ENRICHER_LEDGER_PASSWORD",
        ExitCode.LEDGER_UNREACHABLE,
    )


def port_unavailable(
    host: str,
    port: int,
    exc: OSError,
    *,
    host_option: str = "ENRICHER_HTTP_HOST",
    port_option: str = "ENRICHER_HTTP_PORT",
) -> Failure:
    """``*_option`` name what sets the address: the service's variables, or a command's
    options (``enricher simulate --port``)."""
    if exc.errno == errno.EADDRINUSE:
        return Failure(
            f"port {port} on {host} is already in use ({port_option})",
            f"stop what holds it, or set {port_option} to a free port (0 picks one)",
            ExitCode.PORT_IN_USE,
        )
    return Failure(
        f"cannot listen on {host}:{port} ({host_option}, {port_option}): {exc.strerror or exc}",
        f"set {host_option} to an address of this machine and {port_option} to a port this "
        "user may open (1024 or above)",
        ExitCode.PORT_IN_USE,
    )


def describe(exc: BaseException, *, bootstrap: str, bootstrap_source: str) -> Failure | None:
    """The failure a library exception means, when it is one a user can fix; else None.

    Matched by class name so this core needs no client library: aiokafka's connection errors
    all mean "nothing answers at that address", whichever call met them first."""
    if isinstance(exc, Failure):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"KafkaConnectionError", "NodeNotReadyError"}:
        return broker_unreachable(bootstrap, bootstrap_source)
    if "KafkaTimeoutError" in names or (
        isinstance(exc, TimeoutError) and "bootstrap" in str(exc).lower()
    ):
        return broker_unreachable(bootstrap, bootstrap_source)
    return None
