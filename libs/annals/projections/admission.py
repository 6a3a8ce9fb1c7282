"""What a projector accepts at all: records of the topic's producer that keep the wire contract.

Anyone who can reach the broker could write a record that claims the next version of a stream;
applied, it would make the real event a skipped duplicate (docs/rules.md#trust). So before a
record is upcast or decrypted it is admitted or turned into poison (dead-lettered, its stream
parks behind it, so the real event of that version is applied when it comes):

- `forged source`: a CloudEvent whose `source` is not the topic's producer
  (settings.PRODUCER_OF_TOPIC, via messaging's `source_of`), or whose `type` is another
  service's; a Debezium change whose `source.connector`/`db`/`schema`/`table` is not the one of
  its topic (settings.CDC_ORIGINS);
- `invalid data`: a `dataschema` that is not its type's (its path under schemas/ or its
  subject's URI in a schema registry), or data that does not validate against
  schemas/<service>/<Type>.v<N>.json in its wire form (annals.schemas.wire);
- `unknown event`: a type and version with no schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from annals.cdc import RowChange
from annals.messaging.cloudevents import REGISTRY_SCHEMA, source_of, subject_of
from annals.projections.events import CDC_PREFIX, Event, PoisonRecord
from annals.projections.records import Item, poison_event
from annals.projections.settings import CDC_ORIGINS, PRODUCER_OF_TOPIC
from annals.schemas.wire import InvalidData, UnknownSchema, WireSchemas, wire_schemas

FORGED = "forged source"
INVALID = "invalid data"
UNKNOWN = "unknown event"


class ForgedSource(PoisonRecord):
    """A record that does not come from its topic's producer."""


Attributes = tuple[str, str | None, str, int, str | None]  # topic, source, type, version, schema


@dataclass(frozen=True)
class Admission:
    """Admits the records of declared topics from their producers, in their schemas."""

    schemas: WireSchemas
    sources: Mapping[str, tuple[str, str]]  # logical topic -> (service, CloudEvents source)
    cdc: Mapping[str, tuple[str, str]]  # CDC topic prefix -> (connector, database)
    # Attributes found right once -> their contract's is_valid (a bounded set: only declared
    # topics, their producers' sources, and types and versions that have a schema get here).
    _admitted: dict[Attributes, Any] = field(default_factory=dict, init=False, repr=False)

    def admit(self, event: Event) -> Item:
        """The event, or its poison saying why it may not be applied."""
        attributes = (event.topic, event.source, event.type, event.schema_version,
                      event.dataschema)  # fmt: skip
        valid = self._admitted.get(attributes)
        if valid is not None and valid(event.data):  # the fast path of the live projection
            return event
        try:
            if event.topic.startswith(CDC_PREFIX):
                self._check_change(event)
            else:
                self._admitted[attributes] = self._check_event(event)
        except ForgedSource as exc:
            return poison_event(event, exc, FORGED)
        except InvalidData as exc:
            return poison_event(event, exc, INVALID)
        except UnknownSchema as exc:
            return poison_event(event, exc, UNKNOWN)
        return event

    def _check_event(self, event: Event) -> Any:
        """The attributes' validity check once the event passed every check; raises otherwise."""
        declared = self.sources.get(event.topic)
        if declared is None:
            raise ForgedSource(f"no producer is declared for topic {event.topic}")
        service, source = declared
        if event.source != source:
            raise ForgedSource(f"source {_shown(event.source)} is not {source}, the producer "
                               f"of {event.topic}")  # fmt: skip
        owner, _, name = event.type.partition(".")
        if owner != service:
            raise ForgedSource(f"type {_shown(event.type)} is not an event of {service} "
                               f"({event.topic})")  # fmt: skip
        contract = self.schemas.contract(service, name, event.schema_version)
        if event.dataschema is not None and not _names_contract(event, name, contract.dataschema):
            raise InvalidData(f"dataschema {_shown(event.dataschema)} is neither "
                              f"{contract.dataschema} nor its subject in a registry")  # fmt: skip
        contract.check(event.data)
        return contract.validator.is_valid

    def _check_change(self, event: Event) -> None:
        change = event.data
        if not isinstance(change, RowChange):  # tombstones and heartbeats carry no source
            return
        prefix, _, rest = event.topic.partition(".")
        schema, _, table = rest.partition(".")
        origin = self.cdc.get(prefix)
        if origin is None:
            raise ForgedSource(f"no connector is declared for topic {event.topic}")
        s = change.source
        if (s.connector, s.db, s.schema, s.table) != (*origin, schema, table):
            raise ForgedSource(
                f"change of {_shown(s.connector)} {_shown(s.db)}.{_shown(s.schema)}."
                f"{_shown(s.table)} is not one of {origin[0]} {origin[1]}.{schema}.{table} "
                f"({event.topic})"
            )


def _names_contract(event: Event, name: str, path: str) -> bool:
    """`dataschema` is the schema's path under schemas/ or its URI in a schema registry
    (`http(s)://<registry>/subjects/<topic>-<Type>.v<N>/versions/latest/schema`, whichever
    registry the producer was given: the data is checked against the local schema anyway)."""
    claimed = event.dataschema or ""
    if claimed == path:
        return True
    tail = f"/subjects/{subject_of(event.topic, name, event.schema_version)}{REGISTRY_SCHEMA}"
    return claimed.startswith(("http://", "https://")) and claimed.endswith(tail)


def _shown(value: str | None) -> str:
    """A value a stranger chose, quoted and cut short for a log line or a DLQ header."""
    return "none" if value is None else repr(value[:80])


@cache
def admission() -> Admission:
    """The process's admission: the declared topics and the schemas of the repository."""
    return Admission(
        wire_schemas(),
        {topic: (service, source_of(service)) for topic, service in PRODUCER_OF_TOPIC.items()},
        dict(CDC_ORIGINS),
    )


def admission_for(check_records: bool) -> Admission | None:
    """The admission of a projector, or None where checks are turned off (benchmarks)."""
    return admission() if check_records else None
