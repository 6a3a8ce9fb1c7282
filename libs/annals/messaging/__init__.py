"""annals.messaging: events on Kafka (docs/rules.md#ordering).

Publishing: `runner.RelayProcess` follows a service's event store and produces CloudEvents to
`<service>.events` (`annals publish <service>`); the Debezium outbox mode is a connector config
in deploy/connect/. Subscribing: `Subscriber` with retries, the DLQ and typed decoding.
"""

from annals.messaging.cloudevents import CloudEvent, from_kafka, to_kafka
from annals.messaging.decoding import EventDecoder
from annals.messaging.errors import (
    MalformedEvent,
    MessagingError,
    PermanentError,
    PublishError,
    RetriableError,
    UnknownEvent,
)
from annals.messaging.subscriber import Received, Subscriber

__all__ = [
    "CloudEvent",
    "EventDecoder",
    "MalformedEvent",
    "MessagingError",
    "PermanentError",
    "PublishError",
    "Received",
    "RetriableError",
    "Subscriber",
    "UnknownEvent",
    "from_kafka",
    "to_kafka",
]
