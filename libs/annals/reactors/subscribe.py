"""A reactor on Kafka: a Subscriber whose handler is the reactor's runner."""

from __future__ import annotations

from typing import Any

from annals.eventstore.ports import KeyStore
from annals.messaging.decoding import Registries
from annals.messaging.dlq import dlq_topic
from annals.messaging.handling import Received
from annals.messaging.settings import KafkaSettings
from annals.messaging.subscriber import Subscriber
from annals.messaging.topics import TopicSpec, ensure_topics, event_topic_specs
from annals.reactors.runner import ReactorRunner
from annals.topology import topology

SUBSCRIBER = "subscriber"


def group_of(runner: ReactorRunner, kafka: KafkaSettings | None = None) -> str:
    """The consumer group of a reactor, under its principal's own prefix.

    A reactor logs in as a subscriber principal (ANNALS_KAFKA_PRINCIPAL, else `subscriber`),
    whose ACLs (annals.stack.kafka_auth.reader_acls) allow the groups and dead-letter topics
    named `<principal>.*`: so the group is `<principal>.reactor-<name>`, its DLQ beside it.
    """
    return reactor_group(runner.reactor.name, kafka)


def reactor_group(name: str, kafka: KafkaSettings | None = None) -> str:
    """The consumer group of the reactor `name` (see group_of)."""
    principal = (kafka or KafkaSettings()).principal or SUBSCRIBER
    return f"{principal}.reactor-{name}"


async def prepare(name: str, kafka: KafkaSettings | None = None) -> None:
    """The admin step before a reactor runs: create its topics (it may create none).

    A service's reactor is named after the service (`Reactor("orders", ...)`), so the launcher
    prepares `reactor_group(<service>)`'s DLQ without building the service; the declared event
    topics it may follow are ensured too (as `annals publishers up` makes them), so a reactor
    started before its upstream's relay does not meet a topic it is not allowed to create.
    """
    kafka = kafka or KafkaSettings()
    events = [s.topic for s in topology().services.values() if s.topic]
    specs = event_topic_specs(events, kafka.partitions, kafka.replication_factor)
    dlq = TopicSpec(dlq_topic(reactor_group(name, kafka)), 1)
    await ensure_topics(kafka.bootstrap, [*specs, dlq])


def reactor_subscriber(
    runner: ReactorRunner,
    registry: Registries,
    *,
    keys: KeyStore | None = None,
    **options: Any,
) -> Subscriber:
    """A subscriber to the reactor's topics that hands every event to the runner."""

    async def handle(received: Received) -> None:
        ce = received.cloudevent
        await runner.on_event(ce.id, received.type, received.event, ce.correlationid)

    return Subscriber(
        runner.reactor.topics, group_of(runner), handle, registry=registry, keys=keys, **options
    )
