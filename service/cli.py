"""The ``enricher`` command (a contract: scripts and runbooks call it).

``run`` the service, ``dev`` the whole system on one machine, ``simulate`` one vendor,
``check-config`` a tenants file, ``dlq list`` what failed and ``dlq replay`` it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from service import __version__
from service.cli_context import invocation, load_settings, run_async
from service.cli_send import send
from service.cli_topics import topics
from service.failures import ExitCode, Failure, describe
from service.settings import Settings
from service.tenants import ConfigError, TenantsConfig, load_tenants

if TYPE_CHECKING:
    from service.delivery.dlq_reader import DeadLetterFilter
    from service.delivery.replay import ReplaySummary

__all__ = ["main"]


class _Enricher(click.Group):
    """Every failure a user can cause ends in one or two lines on stderr and the exit code of
    its class (:class:`~service.failures.ExitCode`); a traceback only with ``--debug``."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "enricher"
            click.echo(f"error: {exc.format_message()}", err=True)
            click.echo(f"  fix: see `{where} --help`", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(ExitCode.FAILED)
        except Failure as failure:
            _show(failure)
            sys.exit(failure.code)
        except Exception as exc:
            _show(
                Failure(
                    f"{type(exc).__name__}: {exc}",
                    "run the command again as `enricher --debug ...` to see where it came from",
                    ExitCode.FAILED,
                ),
                exc,
            )
            sys.exit(ExitCode.FAILED)
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


def _show(failure: Failure, cause: BaseException | None = None) -> None:
    if invocation.debug:
        import traceback

        shown = cause or failure.__cause__ or failure
        traceback.print_exception(shown, file=sys.stderr)
    for line in failure.lines():
        click.echo(line, err=True)


@contextlib.contextmanager
def _explained(settings: Settings) -> Iterator[None]:
    """A library exception that means a failure the user can fix, told as that failure."""
    try:
        yield
    except Exception as exc:
        failure = describe(
            exc,
            bootstrap=settings.kafka_bootstrap_servers,
            bootstrap_source=invocation.bootstrap_source,
        )
        if failure is None or failure is exc:
            raise
        raise failure from exc


def _tenants(path: Path) -> TenantsConfig:
    try:
        return load_tenants(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem.render(exc.source), err=True)
        raise SystemExit(ExitCode.CONFIG) from None


@click.group(cls=_Enricher, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="enricher")
@click.option(
    "--debug", is_flag=True, help="On failure, print the traceback; keep library log lines."
)
def main(debug: bool) -> None:
    """Merge CRM and analytics events per interaction into contact-center platforms.

    Exit codes: 0 done, 1 failed (see the message), 2 usage or configuration, 3 Kafka broker
    unreachable, 4 ledger cannot be opened, 5 HTTP port unavailable, 6 broker refused a
    setting (docs/reference/errors.md)."""
    invocation.debug = debug
    if not debug:
        from service.logs import quiet_library_logging

        quiet_library_logging()


@main.command()
def run() -> None:
    """Run the service: configured by ENRICHER_* variables and the ENRICHER_CONFIG file."""
    from service.gc_tuning import tune_collector
    from service.logs import configure_logging, route_library_logging
    from service.runtime import Service

    settings = load_settings()
    if settings.config is None:
        click.echo("error: ENRICHER_CONFIG must name the tenants file", err=True)
        click.echo("  fix: set ENRICHER_CONFIG to the path of a tenants YAML file", err=True)
        raise SystemExit(ExitCode.CONFIG)
    tenants = _tenants(settings.config)
    service = Service(settings, tenants)
    configure_logging(settings.log_format, settings.log_level, service.redactor)
    if not invocation.debug:
        route_library_logging(settings.log_format, settings.log_level, service.redactor)
    tune_collector()
    try:
        with _explained(settings):
            run_async(service.run())
    except Failure:
        raise
    except Exception as exc:
        raise Failure(
            f"stopped on {type(exc).__name__}: {service.redactor(str(exc))}",
            "see the log lines above; `enricher --debug run` shows the traceback",
            ExitCode.FAILED,
        ) from exc


@main.command("check-config")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--no-resolve",
    is_flag=True,
    help="Check ${...} references for form only (where the secrets are not available).",
)
def check_config(file: Path, no_resolve: bool) -> None:
    """Validate a tenants file; every problem is printed as FILE:LINE:COLUMN: PATH: MESSAGE."""
    try:
        config = load_tenants(file, resolve=not no_resolve)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem.render(exc.source), err=True)
        count = len(exc.problems)
        click.echo(f"{file}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{file}: OK, {len(config.tenants)} tenant(s)")
    for name, tenant in sorted(config.tenants.items()):
        click.echo(f"  {name}: {tenant.platform}, {len(tenant.fields)} mapped field(s)")


@main.command(
    epilog="PLATFORM: the id of a registered platform that has a simulator; an unknown one is "
    "answered with the list of them."
)
@click.argument("platform")
@click.option("--port", type=int, default=8081, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def simulate(platform: str, port: int, host: str) -> None:
    """Serve one vendor simulator (its control API is under /_sim)."""
    from service.simulators.serve import run_simulator, simulators

    if platform not in simulators():
        known = ", ".join(sorted(simulators()))
        raise click.BadParameter(f"{platform!r} is not one of: {known}", param_hint="PLATFORM")

    def started(url: str) -> None:
        click.echo(f"{platform} simulator on {url} (control API: {url}/_sim)")

    from service.failures import port_unavailable

    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_async(run_simulator(platform, port, host=host, on_started=started))
    except OSError as exc:
        raise port_unavailable(host, port, exc, host_option="--host", port_option="--port") from exc


@main.command()
@click.option("--rate", type=float, default=5.0, show_default=True, help="Interactions per second.")
@click.option("--duration", type=float, default=0, help="Stop after this many seconds (0: Ctrl-C).")
@click.option("--http-port", type=int, default=8080, show_default=True)
def dev(rate: float, duration: float, http_port: int) -> None:
    """Everything on this machine: embedded broker, a simulator for each platform in the
    registry (the built-in vendors and the generic HTTP endpoint), the service with a sample
    tenant on each, and sample traffic, with a live per-platform summary of what gets
    delivered."""
    from service.dev.devmode import run_dev

    try:
        exit_code = run_async(run_dev(rate=rate, duration=duration, http_port=http_port))
    except KeyboardInterrupt:
        exit_code = 0
    raise SystemExit(exit_code)


@main.group()
def dlq() -> None:
    """Inspect the dead-letter topic."""


def _moment(text: str | None) -> datetime | None:
    """An ISO time (``2026-11-20T08:00Z``) or a duration ago (``24h``)."""
    from service.admin.selection import parse_moment

    try:
        return parse_moment(text, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--tenant"),
            click.option("--platform"),
            click.option("--reason"),
            click.option("--interaction", "interaction_id"),
            click.option("--since", help="ISO time, or a duration ago such as 24h."),
            click.option("--until", help="ISO time, or a duration ago such as 1h."),
        ]
    ):
        command = option(command)
    return command


def _selection(options: dict[str, Any]) -> DeadLetterFilter:
    """Checked as the admin API checks the same filters (service.admin.selection)."""
    from service.admin.selection import dead_letter_filter, selection_problems

    problems = selection_problems(
        {
            "tenant": options["tenant"] or None,
            "platform": options["platform"] or None,
            "reason": options["reason"] or None,
            "interaction": options["interaction_id"] or None,
        }
    )
    if problems:
        name, message = next(iter(problems.items()))
        raise click.BadParameter(message, param_hint=f"'--{name}'")
    return dead_letter_filter(
        tenant=options["tenant"],
        platform=options["platform"],
        reason=options["reason"],
        interaction_id=options["interaction_id"],
        since=_moment(options["since"]),
        until=_moment(options["until"]),
    )


@dlq.command("list")
@_selection_options
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--latest",
    is_flag=True,
    help="One line per original record (source topic, partition, offset): its newest dead "
    "letter, its state (dead_lettered, or replayed), replays and copies.",
)
def dlq_list(limit: int, as_json: bool, latest: bool, **selection: Any) -> None:
    """List dead-lettered records with their provenance, oldest first."""
    from service.admin.dead_letters import KafkaDeadLetters, latest_summary, record_summary

    chosen = _selection(selection)
    settings = load_settings(find_dev=True)
    store = KafkaDeadLetters(settings)
    # Reading waits for the end of every partition: say so, on stderr to keep --json clean.
    click.echo(f"reading {settings.topic_dlq} ...", err=True)
    if latest:
        with _explained(settings):
            every_state = run_async(store.read_latest(chosen))
        states = every_state[:limit]
        for state in states:
            if as_json:
                click.echo(orjson.dumps(latest_summary(state)))
            else:
                click.echo(
                    _letter_line(state.letter)
                    + f"  state={state.state} replays={state.replays} copies={state.copies}"
                )
        if not as_json:
            click.echo(f"{_shown(len(states), len(every_state))} original record(s)", err=True)
        return
    # Everything matching is read, as the admin API does, so the count of all is known.
    with _explained(settings):
        matching = run_async(store.read(chosen))
    records = matching[:limit]
    for record in records:
        if as_json:
            click.echo(orjson.dumps(record_summary(record)))
            continue
        click.echo(_letter_line(record))
    if not as_json:
        click.echo(f"{_shown(len(records), len(matching))} record(s)", err=True)


def _shown(shown: int, matching: int) -> str:
    """``17``, or ``3 of 17`` when ``--limit`` left some out."""
    return f"{shown} of {matching}" if shown < matching else str(shown)


def _letter_line(record: Any) -> str:
    p = record.provenance
    return (
        f"{record.partition}/{record.offset}  {p.get('reason', '?'):<22} "
        f"{p.get('tenant', '-')}/{p.get('platform', '-')}  "
        f"{(record.key or b'').decode('utf-8', 'replace')}  "
        f"from {p.get('source_topic')}/{p.get('source_partition')}@{p.get('source_offset')}"
        + (f"  status={p['http_status']}" if "http_status" in p else "")
        + (f"  value omitted ({p.get('value_size', '?')} bytes)" if "omitted" in p else "")
        + (f"  {p['detail']}" if "detail" in p else "")
    )


@dlq.command("replay")
@_selection_options
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@click.option(
    "--max-replays",
    type=int,
    default=3,
    show_default=True,
    help="Skip records already replayed this often (stops DLQ-replay loops); counted per "
    "original record, across every copy and every replay.",
)
def dlq_replay(dry_run: bool, max_replays: int, **selection: Any) -> None:
    """Send selected dead letters back through their tenant's lane (via the first retry
    tier, due at once). The service delivers the interaction's newest snapshot."""
    chosen = _selection(selection)
    settings = load_settings(find_dev=True)
    with _explained(settings):
        summary = run_async(_replay(settings, chosen, dry_run, max_replays))
    click.echo(
        f"selected {summary.selected}; "
        + (
            f"would replay {sum(summary.by_reason.values())}"
            if dry_run
            else f"replayed {summary.replayed}"
        ),
        err=True,
    )
    for reason, n in sorted(summary.by_reason.items()):
        click.echo(f"  {reason}: {n}", err=True)
    if summary.skipped_superseded:
        click.echo(
            f"skipped {summary.skipped_superseded} older copies of the same records "
            "(only the newest copy of each is replayed)",
            err=True,
        )
    if summary.skipped_replay_limit:
        click.echo(
            f"skipped {summary.skipped_replay_limit} already replayed {max_replays} time(s); "
            "raise --max-replays to send them anyway",
            err=True,
        )
    if summary.skipped_claimed:
        click.echo(
            f"skipped {summary.skipped_claimed} claimed first by a replay running at the same time",
            err=True,
        )
    if summary.skipped_original_gone:
        click.echo(
            f"skipped {summary.skipped_original_gone} dead-lettered without their value whose "
            "original is gone from its input topic (retention); they cannot be replayed",
            err=True,
        )


async def _replay(
    settings: Settings, selection: DeadLetterFilter, dry_run: bool, max_replays: int
) -> ReplaySummary:
    from service.admin.dead_letters import KafkaDeadLetters, replay

    store = KafkaDeadLetters(settings)
    click.echo(f"reading {settings.topic_dlq} ...", err=True)
    plan = await store.plan(selection, max_replays=max_replays)
    if dry_run or not plan.records:
        return plan.summary
    with click.progressbar(length=len(plan.records), label="replaying", file=sys.stderr) as bar:
        return await replay(
            store, plan, user=os.environ.get("USER", "unknown"), progress=bar.update
        )


main.add_command(send)
main.add_command(topics)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog_name="enricher"))
