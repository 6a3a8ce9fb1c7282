"""The relay process of one service: leadership, producer lifecycle, restarts after errors.

Nothing ends or stalls this process silently: any error of a relay run is logged (a traceback
unless it is a known outage of PostgreSQL or Kafka), counted in annals_publisher_restarts,
written to the status file, and followed by a restart with capped exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import start_http_server

from annals import tracing
from annals.backoff import Backoff
from annals.eventstore import queries
from annals.eventstore.ports import Checkpoint, RecordedEvent
from annals.eventstore.settings import ServiceDatabase
from annals.eventstore.subscription import CHANNEL, Listener
from annals.messaging import metrics
from annals.messaging.checkpoints import PostgresCheckpointStore
from annals.messaging.cloudevents import SchemaLocation
from annals.messaging.errors import MessagingError
from annals.messaging.health import PublisherHealth, status_dir, status_path, write_status
from annals.messaging.leadership import Leadership
from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.messaging.relay import Reader, Relay
from annals.messaging.security import relay_principal
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)
REPORT_EVERY = 1.0
STEADY_AFTER = 30.0  # a run this long counts as progress even without events
OUTAGES = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    KafkaError,
    MessagingError,
)


def reader_on(conn: asyncpg.Connection) -> Reader:
    """read_all of the event store, run on the leader's own connection (see leadership)."""

    async def read(after: Checkpoint, limit: int) -> list[RecordedEvent]:
        return await queries.read_all(conn, after, limit)

    return read


class RelayProcess:
    """Waits for leadership, then relays until stopped; after an error it starts over."""

    def __init__(
        self,
        settings: PublisherSettings,
        database: ServiceDatabase,
        kafka: KafkaSettings,
        status_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.kafka = kafka
        self.stopping = asyncio.Event()
        self.relay: Relay | None = None
        self._topic_ready = False
        self.leadership = Leadership(
            database.dsn, settings.publisher_name, settings.publisher_standby_poll
        )
        self.health = PublisherHealth(settings.service, settings.publisher_name)
        self.status_file = status_file
        self.restarts = Backoff(base=0.5, cap=settings.publisher_restart_cap)
        labels = (settings.service, settings.publisher_name)
        self._leader = metrics.PUBLISHER_LEADER.labels(*labels)
        self._events = metrics.PUBLISHER_EVENTS.labels(*labels)
        metrics.PUBLISHER_SINCE_PUBLISH.labels(*labels).set_function(
            self.health.seconds_since_publish
        )

    def stop(self) -> None:
        """Ask the process to finish its batch and exit."""
        self.stopping.set()
        if self.relay is not None:
            self.relay.stop()

    async def run(self) -> None:
        """Run until stop(): standby, active, and back to standby after errors."""
        listener = Listener(self.database.dsn, CHANNEL)
        producer: AIOKafkaProducer | None = None
        reporter = asyncio.ensure_future(self._report())
        try:
            while not self.stopping.is_set():
                self._enter("standby")
                conn = await self.leadership.acquire(self.stopping)
                if conn is None:
                    break
                self._enter("active")
                published, active_since = self.health.published, time.monotonic()
                try:
                    if producer is None:
                        producer = await self._start_producer()
                    await self._relay(conn, producer, listener)
                except Exception as exc:  # nothing may end the relay silently
                    self._failed(exc)
                    await _stop_producer(producer)
                    producer = None
                    await self.leadership.release()
                    steady = time.monotonic() - active_since > STEADY_AFTER
                    if steady or self.health.published > published:
                        self.restarts.reset()  # it made progress: the first retry is quick
                    await self.restarts.sleep(self.stopping)
        finally:
            self._enter("stopped")
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            await _stop_producer(producer)
            await self.leadership.release()
            await _close_listener(listener)
            if self.status_file is not None:
                self.status_file.unlink(missing_ok=True)

    def _enter(self, state: str) -> None:
        self.health.enter(state)
        self._leader.set(1 if state == "active" else 0)
        self._write_status()

    def _failed(self, exc: Exception) -> None:
        name = self.settings.publisher_name
        error = type(exc).__name__
        self.health.failed(exc)
        self._leader.set(0)
        metrics.PUBLISHER_RESTARTS.labels(self.settings.service, name, error).inc()
        if isinstance(exc, OUTAGES):
            log.warning(
                "publisher %s: %s: %s; starting over from the stored checkpoint",
                name, error, exc,
            )  # fmt: skip
        else:
            log.exception("publisher %s: unexpected error; starting over", name)
        self._write_status()

    def _published(self, count: int) -> None:
        self.health.published += count
        self.health.last_publish_at = time.time()
        self._events.inc(count)

    async def _report(self) -> None:
        reported: BaseException | None = None
        while True:
            await asyncio.sleep(REPORT_EVERY)
            error = self.leadership.error
            if self.health.state in {"standby", "reconnecting"} and error is not reported:
                if error is None:
                    self.health.enter("standby")
                else:
                    self.health.failed(error, restart=False)  # away while waiting for the lock
                reported = error
            self._write_status()

    def _write_status(self) -> None:
        if self.status_file is None:
            return
        try:
            write_status(self.status_file, self.health)
        except OSError as exc:
            log.warning("publisher %s: status file not written: %s", self.health.publisher, exc)

    async def _relay(
        self, conn: asyncpg.Connection, producer: AIOKafkaProducer, listener: Listener
    ) -> None:
        settings = self.settings
        relay = Relay(
            settings.publisher_name,
            reader_on(conn),
            KafkaPublisher(
                producer,
                settings.topic,
                settings.service,
                settings.publisher_publish_timeout,
                schemas=SchemaLocation(settings.registry_url or None, settings.declared_topic),
            ),
            PostgresCheckpointStore(conn),
            batch_size=settings.publisher_batch_size,
            max_poll=settings.publisher_max_poll,
            on_batch=self._published,
        )
        self.relay = relay
        await listener.register(relay.wake)
        try:
            if self.stopping.is_set():
                relay.stop()
            stats = await relay.run()
            log.info(
                "publisher %s: stopped at %s after %d events",
                settings.publisher_name,
                stats.checkpoint,
                stats.published,
            )
        finally:
            listener.unregister(relay.wake)
            self.relay = None

    async def _start_producer(self) -> AIOKafkaProducer:
        principal = relay_principal(self.settings.service)
        if not self._topic_ready:
            spec = TopicSpec(
                self.settings.topic, self.kafka.partitions, self.kafka.replication_factor
            )
            async with asyncio.timeout(60):
                await ensure_topics(self.kafka.bootstrap, [spec], principal)
            self._topic_ready = True
        producer = make_producer(
            self.kafka.bootstrap,
            self.settings.publisher_linger_ms,
            self.settings.publisher_request_timeout_ms,
            principal=principal,
        )
        try:
            async with asyncio.timeout(60):
                await producer.start()
        except BaseException:
            await _stop_producer(producer)
            raise
        return producer


async def _close_listener(listener: Listener) -> None:
    try:
        await asyncio.wait_for(listener.close(), 5)
    except Exception as exc:  # a broken LISTEN session at exit changes nothing
        log.debug("listener did not close cleanly: %s", exc)


async def _stop_producer(producer: AIOKafkaProducer | None) -> None:
    if producer is None:
        return
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except Exception as exc:  # a producer that cannot stop is dropped; a new one starts over
        log.warning("producer did not stop cleanly: %s", exc)


async def serve(service: str) -> None:
    """`annals publish <service>`: relay until SIGTERM/SIGINT."""
    settings = PublisherSettings.for_service(service)
    tracing.configure(settings.publisher_name)
    if settings.publisher_metrics_port:
        try:
            start_http_server(settings.publisher_metrics_port, addr=settings.publisher_metrics_host)
        except OSError as exc:  # a taken port costs the metrics, never the relay
            log.warning("no metrics on :%s: %s", settings.publisher_metrics_port, exc)
    process = RelayProcess(
        settings,
        ServiceDatabase.for_service(service),
        KafkaSettings(),
        status_path(settings.publisher_name, status_dir(settings.publisher_status_dir)),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, process.stop)
    await process.run()
