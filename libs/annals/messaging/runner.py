"""The relay process of one service: leadership, producer lifecycle, restarts after errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from annals.eventstore.ports import Checkpoint, RecordedEvent
from annals.eventstore.postgres import READ_ALL, to_records
from annals.eventstore.settings import ServiceDatabase
from annals.eventstore.subscription import CHANNEL, Listener
from annals.messaging.checkpoints import PostgresCheckpointStore
from annals.messaging.errors import MessagingError
from annals.messaging.leadership import Leadership
from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.messaging.relay import Reader, Relay
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)
RESTART_DELAY = 1.0
RECOVERABLE = (
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
        rows = await conn.fetch(READ_ALL, after.tx_id, after.position, limit, None, None)
        return to_records(rows)

    return read


class RelayProcess:
    """Waits for leadership, then relays until stopped; after an error it starts over."""

    def __init__(
        self,
        settings: PublisherSettings,
        database: ServiceDatabase,
        kafka: KafkaSettings,
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

    def stop(self) -> None:
        """Ask the process to finish its batch and exit."""
        self.stopping.set()
        if self.relay is not None:
            self.relay.stop()

    async def run(self) -> None:
        """Run until stop(): standby, active, and back to standby after errors."""
        listener = Listener(self.database.dsn, CHANNEL)
        producer: AIOKafkaProducer | None = None
        try:
            while not self.stopping.is_set():
                conn = await self.leadership.acquire(self.stopping)
                if conn is None:
                    break
                try:
                    if producer is None:
                        producer = await self._start_producer()
                    await self._relay(conn, producer, listener)
                except RECOVERABLE as exc:
                    log.warning(
                        "publisher %s: %s: %s; starting over from the stored checkpoint",
                        self.settings.publisher_name,
                        type(exc).__name__,
                        exc,
                    )
                    await _stop_producer(producer)
                    producer = None
                    await self.leadership.release()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), RESTART_DELAY)
        finally:
            await _stop_producer(producer)
            await self.leadership.release()
            await listener.close()

    async def _relay(
        self, conn: asyncpg.Connection, producer: AIOKafkaProducer, listener: Listener
    ) -> None:
        settings = self.settings
        relay = Relay(
            settings.publisher_name,
            reader_on(conn),
            KafkaPublisher(producer, settings.topic, settings.service),
            PostgresCheckpointStore(conn),
            batch_size=settings.publisher_batch_size,
            max_poll=settings.publisher_max_poll,
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
        if not self._topic_ready:
            spec = TopicSpec(
                self.settings.topic, self.kafka.partitions, self.kafka.replication_factor
            )
            await ensure_topics(self.kafka.bootstrap, [spec])
            self._topic_ready = True
        producer = make_producer(
            self.kafka.bootstrap,
            self.settings.publisher_linger_ms,
            self.settings.publisher_request_timeout_ms,
        )
        try:
            await producer.start()
        except BaseException:
            await _stop_producer(producer)
            raise
        return producer


async def _stop_producer(producer: AIOKafkaProducer | None) -> None:
    if producer is None:
        return
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning("producer did not stop cleanly: %s", exc)


async def serve(service: str) -> None:
    """`annals publish <service>`: relay until SIGTERM/SIGINT."""
    process = RelayProcess(
        PublisherSettings.for_service(service),
        ServiceDatabase.for_service(service),
        KafkaSettings(),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, process.stop)
    await process.run()
