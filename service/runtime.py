"""Assembly of the running service: every adapter built from settings, one event loop for the
consumer and the HTTP surface, and the shutdown sequence.

On SIGTERM or SIGINT: readiness drops at once, fetching stops, in-flight work drains within
``ENRICHER_SHUTDOWN_DRAIN``, offsets are committed, the consumer leaves its group, and only
then does the HTTP server stop, so probes keep answering throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer

from service import __version__
from service.admin.context import AdminContext
from service.admin.dead_letters import KafkaDeadLetters
from service.admin.recorder import OutcomeRecorder
from service.api import create_app
from service.delivery.kafka_sink import KafkaDeadLetterSink, KafkaRecordSink
from service.delivery.lanes import LaneConfig, Lanes
from service.delivery.originals import KafkaOriginals
from service.failures import ledger_unavailable, port_unavailable
from service.health import Health
from service.http_server import AppServer
from service.kafka_admin import ensure_topics
from service.kafka_clients import start_producer
from service.kafka_seam import ConsumerFactory, Producer
from service.ledger.base import redact_url
from service.ledger.opening import open_ledger
from service.ledger.resilient import ResilientLedger, is_unavailable
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.platforms.registry import build_adapter
from service.redaction import Redactor
from service.settings import Settings
from service.tenants import TenantsConfig
from service.transport import AiohttpTransport

__all__ = ["Reachability", "Service"]

log = structlog.get_logger("enricher")

_CHECK_TIMEOUT = 2.0
"""How long the start-up check and the watcher wait for the ledger or the broker to answer."""


async def _end_watch(task: asyncio.Task[None], over: asyncio.Event) -> None:
    over.set()
    await _cancel(task)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Service:
    def __init__(
        self,
        settings: Settings,
        tenants: TenantsConfig,
        *,
        consumer_factory: ConsumerFactory = AIOKafkaConsumer,
    ) -> None:
        self.settings = settings
        self._consumer_factory = consumer_factory
        self.tenants = tenants
        self.metrics = Metrics()
        self.redactor = Redactor([*settings.secret_values(), *tenants.secret_values()])
        # Where, not how: the URL's options are left out, its password masked.
        self.ledger_address = redact_url(settings.ledger_url.partition("?")[0])
        self.ledger = ResilientLedger(
            open_ledger(
                settings.ledger_url,
                password=settings.ledger_password,
                key_prefix=settings.ledger_key_prefix,
                max_connections=settings.ledger_max_connections,
            ),
            address=self.ledger_address,
        )
        self.health = Health(
            stall_after=settings.liveness_stall.total_seconds(),
            ledger_ping=self.ledger.ping,
            broker_ping=self._broker_ping,
            ledger_address=self.ledger_address,
            broker_address=settings.kafka_bootstrap_servers,
            waiting_on_store=lambda: self.ledger.outage_since is not None,
        )
        self.recorder = OutcomeRecorder(redact=self.redactor)
        self._pipeline: Pipeline | None = None
        self._originals: KafkaOriginals | None = None
        self.lanes: Lanes | None = None
        admin = self._admin_context()
        self.admin_enabled = admin is not None
        self.http = AppServer(
            create_app(self.health, self.metrics, admin),
            host=settings.http_host,
            port=settings.http_port,
        )
        self._stop_requested = asyncio.Event()

    def _admin_context(self) -> AdminContext | None:
        token = self.settings.admin_token
        if token is None or not token.get_secret_value():
            return None
        return AdminContext(
            token=token,
            settings=self.settings,
            tenants=self.tenants.tenants,
            ledger=self.ledger,
            lanes=lambda: self.lanes,
            recorder=self.recorder,
            dead_letters=KafkaDeadLetters(self.settings),
            redact=self.redactor,
        )

    def stop(self) -> None:
        self.health.stopping = True
        self._stop_requested.set()
        if self._pipeline is not None:
            self._pipeline.stop()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until stopped; raises if the pipeline stopped on a fatal error."""
        settings = self.settings
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._close_ledger)
            try:
                await stack.enter_async_context(self.http)
            except OSError as exc:
                raise port_unavailable(settings.http_host, settings.http_port, exc) from exc
            log.info(
                "starting",
                version=__version__,
                http_port=self.http.port,
                admin_api="enabled" if self.admin_enabled else "disabled (no admin token)",
                tenants=sorted(self.tenants.tenants),
                ledger=settings.ledger_url.split(":")[0],
            )
            await self._check_ledger()
            watch_over = asyncio.Event()
            watch = asyncio.create_task(
                self._watch_dependencies(watch_over), name="dependency-watch"
            )
            stack.push_async_callback(_end_watch, watch, watch_over)
            if settings.create_topics:
                await self._create_topics()
            producer = await start_producer(
                settings,
                acks="all",
                linger_ms=5,
                max_batch_size=256 * 1024,
                max_request_size=settings.kafka_max_request_size,
            )
            stack.push_async_callback(producer.stop)
            self._originals = KafkaOriginals(settings.kafka_client_options())
            stack.push_async_callback(self._originals.close)
            transport = AiohttpTransport()
            stack.push_async_callback(transport.close)
            purge = asyncio.create_task(self._purge_periodically(), name="ledger-purge")
            stack.push_async_callback(_cancel, purge)
            self._pipeline = self._build_pipeline(producer, transport)
            if self._stop_requested.is_set():
                self._pipeline.stop()
            await self._run_pipeline(self._pipeline)

    async def _run_pipeline(self, pipeline: Pipeline) -> None:
        """A stop requested while the broker is gone can end in the Kafka client cancelling
        its own fetch task as it closes; that cancellation is not the service being cancelled,
        and must not end a SIGTERM in a traceback. It is logged, and the stop goes on."""
        try:
            await pipeline.run()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if (task is not None and task.cancelling()) or not self._stop_requested.is_set():
                raise
            log.warning(
                "consumer_close_interrupted",
                broker=self.settings.kafka_bootstrap_servers,
                detail="the consumer could not leave its group cleanly; its partitions move "
                "to another replica once the session times out",
            )

    async def _check_ledger(self) -> None:
        """A ledger that refuses (a SQLite file that cannot be opened, or that another process
        holds) will not accept later either: stop at once and say where. One that does not
        answer is waited out, as during any outage (the warning says where): a restart would
        not bring it back sooner."""
        try:
            await self.ledger.check(timeout=_CHECK_TIMEOUT)
        except Exception as exc:
            if not is_unavailable(exc):
                error = self.redactor(str(exc)) or type(exc).__name__
                raise ledger_unavailable(self.ledger_address, error) from exc

    async def _watch_dependencies(self, over: asyncio.Event, every: float = 5.0) -> None:
        """Log once when the ledger or the broker stops answering, and once when it is back,
        also while no record is moving (readiness alone would show it only to a prober).

        Ends when ``over`` is set, not only on cancellation: a cancellation that arrives as a
        timed wait completes can be lost, and the shutdown would wait on this for ever."""
        broker = Reachability()
        address = self.settings.kafka_bootstrap_servers
        while not over.is_set():
            with contextlib.suppress(Exception):
                await self.ledger.check(timeout=_CHECK_TIMEOUT)
            if self._pipeline is not None:
                try:
                    async with asyncio.timeout(_CHECK_TIMEOUT):
                        await self._pipeline.broker_ping()
                except Exception as exc:
                    if broker.lost(time.monotonic()):
                        log.warning("broker_unreachable", address=address, error=type(exc).__name__)
                else:
                    back_after = broker.answered(time.monotonic())
                    if back_after is not None:
                        log.info("broker_recovered", address=address, seconds=back_after)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await over.wait()

    async def _broker_ping(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.broker_ping()

    async def _close_ledger(self) -> None:
        with contextlib.suppress(Exception):
            await self.ledger.close()
        log.info("stopped")

    async def _purge_periodically(self, every: float = 600.0) -> None:
        """Expired entries are invisible at once; this only reclaims their space."""
        while True:
            await asyncio.sleep(every)
            try:
                purged = await self.ledger.purge_expired(datetime.now(UTC))
            except Exception as exc:  # the next round tries again; readiness reports the ledger
                log.warning("ledger_purge_failed", error=self.redactor(str(exc)))
                continue
            if purged:
                log.info("ledger_purged", entries=purged)

    def _build_pipeline(self, producer: Producer, transport: AiohttpTransport) -> Pipeline:
        settings = self.settings
        tenants = self.tenants.tenants
        adapters = {
            name: build_adapter(tenant, transport, name=name) for name, tenant in tenants.items()
        }
        self.lanes = Lanes(
            tenants,
            adapters,
            self.ledger,
            self.metrics,
            lane_config(settings),
            on_attempt=self.recorder.record,
        )
        self.health.last_activity = self.lanes.last_activity
        return Pipeline(
            settings=settings,
            tenants=tenants,
            ledger=self.ledger,
            lanes=self.lanes,
            dead_letters=KafkaDeadLetterSink(
                producer, settings.topic_dlq, max_record_size=settings.kafka_max_request_size
            ),
            parking=KafkaRecordSink(producer, max_record_size=settings.kafka_max_request_size),
            metrics=self.metrics,
            health=self.health,
            redactor=self.redactor,
            consumer_factory=self._consumer_factory,
            originals=self._originals,
        )

    async def _create_topics(self) -> None:
        s = self.settings
        names = (*s.input_topics, *(t.topic for t in s.retry_tier_topics), s.topic_dlq)
        topics = {name: s.topic_partitions for name in names}
        created = await ensure_topics(
            s.kafka_bootstrap_servers,
            topics,
            replication_factor=s.topic_replication_factor,
            client_kwargs=s.kafka_client_options(),
        )
        if created:
            log.info("topics_created", topics=created)


class Reachability:
    """One dependency's state for the watcher: which checks change it, and so deserve a line."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def lost(self, now: float) -> bool:
        """A failed check; True when it is the first of an outage."""
        if self.down_since is not None:
            return False
        self.down_since = now
        return True

    def answered(self, now: float) -> float | None:
        """A good check; the outage's length in seconds when it ends one."""
        if self.down_since is None:
            return None
        seconds = round(now - self.down_since, 3)
        self.down_since = None
        return seconds


def lane_config(settings: Settings) -> LaneConfig:
    return LaneConfig(
        tiers=settings.retry_tier_topics,
        queue_limit=settings.lane_queue_limit,
        base_delay=settings.retry_base_delay.total_seconds(),
        max_delay=settings.retry_max_delay.total_seconds(),
        max_pause=settings.retry_after_max.total_seconds(),
        breaker_failures=settings.breaker_failures,
        breaker_cool_down=settings.breaker_cool_down.total_seconds(),
        initial_limit=settings.lane_initial_concurrency,
    )
