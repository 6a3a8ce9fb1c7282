"""CloudEvents 1.0 on Kafka (docs/rules.md#ordering): structured mode out, either mode in.

The relay writes structured mode: the value is the whole JSON envelope, headers repeat ce_id
and ce_type. Debezium's outbox mode writes binary mode: attributes as `ce_` headers, the event
data as the value. `from_kafka` reads both into one CloudEvent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from annals.eventstore.ports import RecordedEvent
from annals.messaging.errors import MalformedEvent

SPECVERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
TRACEPARENT = "traceparent"  # CloudEvents distributed-tracing extension (W3C trace context)
METADATA_HEADER = "annals_metadata"  # binary mode: the stored metadata JSON (Debezium outbox)
REQUIRED = ("id", "source", "type", "specversion")
INT_ATTRIBUTES = ("streamversion", "schemaversion")
KNOWN = frozenset(
    {
        "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
        "dataschema", "data", "streamversion", "schemaversion", "correlationid", "causationid",
    }
)  # fmt: skip
OPTIONAL = (
    "subject", "time", "datacontenttype", "dataschema", *INT_ATTRIBUTES, "correlationid",
    "causationid",
)  # fmt: skip
_STRUCTURED_HEADER = STRUCTURED_CONTENT_TYPE.encode()
_ZERO = timedelta(0)
Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event as every consumer sees it, whatever the content mode on the wire."""

    id: str
    source: str
    type: str
    data: Any
    subject: str | None = None
    time: datetime | None = None
    datacontenttype: str | None = DATA_CONTENT_TYPE
    dataschema: str | None = None
    streamversion: int | None = None
    schemaversion: int | None = None
    correlationid: str | None = None
    causationid: str | None = None
    specversion: str = SPECVERSION
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """The producing service: the part of `type` before the first dot."""
        return self.type.partition(".")[0]

    @property
    def event_type(self) -> str:
        """The event type within its service (`OrderPlaced` of `orders.OrderPlaced`)."""
        head, dot, tail = self.type.partition(".")
        return tail if dot else head

    def attributes(self) -> dict[str, Any]:
        """Every context attribute that is set (not data), by CloudEvents name."""
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        for name in OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.extensions)
        return out


def source_of(service: str) -> str:
    """The CloudEvents source of a service: `/services/<service>`."""
    return f"/services/{service}"


def dataschema_for(service: str, event_type: str, schema_version: int) -> str:
    """Path of the event's JSON Schema under schemas/ (the `dataschema` without a registry)."""
    return f"schemas/{service}/{event_type}.v{schema_version}.json"


def subject_of(topic: str, event_type: str, schema_version: int) -> str:
    """The registry subject of one type and version on a topic (docs/schema-registry.md)."""
    return f"{topic}-{event_type}.v{schema_version}"


REGISTRY_SCHEMA = "/versions/latest/schema"  # the bare schema of a subject, Confluent's API


@dataclass(frozen=True, slots=True)
class SchemaLocation:
    """Where records' `dataschema` points: the schema registry at `url`, else schemas/."""

    url: str | None = None  # the registry's public base URL (ANNALS_REGISTRY_PUBLIC_URL or _URL)
    topic: str = ""

    def uri(self, service: str, event_type: str, schema_version: int) -> str:
        """`<url>/subjects/<topic>-<Type>.v<N>/versions/latest/schema`, or the schemas/ path."""
        if not self.url:
            return dataschema_for(service, event_type, schema_version)
        subject = subject_of(self.topic, event_type, schema_version)
        return f"{self.url.rstrip('/')}/subjects/{subject}{REGISTRY_SCHEMA}"


IN_REPOSITORY = SchemaLocation()


@lru_cache(maxsize=256)  # the events of one append share their recorded_at
def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`."""
    if moment.utcoffset() != _ZERO:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (any fraction length, `Z` or offset) as an aware datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:  # fromisoformat wants 3 or 6 fraction digits on Python 3.11
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, tail = rest[:digits], rest[digits:]
        value = f"{head}.{(fraction + '000000')[:6]}{tail}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedEvent(f"time {text!r} is not RFC 3339") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_str = encode_basestring  # a JSON string literal (UTF-8 kept, as json.dumps(ensure_ascii=False))


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A Kafka record ready to send."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@lru_cache(maxsize=4096)
def _type_parts(
    service: str, event_type: str, schema_version: int, schemas: SchemaLocation
) -> tuple[str, str, bytes]:
    """The constant middle of an envelope, its ce_type and the ce_type header of one type."""
    ce_type = f"{service}.{event_type}"
    middle = (
        f',"source":{_str(source_of(service))},"type":{_str(ce_type)}'
        f',"datacontenttype":"application/json"'
        f',"dataschema":{_str(schemas.uri(service, event_type, schema_version))}'
        f',"schemaversion":{schema_version}'
    )
    return middle, ce_type, ce_type.encode()


def to_kafka(
    event: RecordedEvent,
    service: str,
    traceparent: str | None = None,
    schemas: SchemaLocation = IN_REPOSITORY,
) -> OutgoingRecord:
    """The structured-mode record of a stored event: key = stream id, value = the envelope.

    The W3C trace context (`traceparent`: the one given, else the one the append stored) goes
    into the CloudEvents distributed-tracing attribute and a `traceparent` header; `dataschema`
    names the schema in the registry of `schemas` (or its path under schemas/).
    """
    middle, _, ce_type_header = _type_parts(
        service, event.event_type, event.schema_version, schemas
    )
    event_id = str(event.event_id)
    ids, stored = _trace(event.metadata_json)
    parent = traceparent or stored
    if parent is not None:
        ids += f',"{TRACEPARENT}":{_str(parent)}'
    value = (
        f'{{"specversion":"1.0","id":"{event_id}"{middle},"subject":{_str(event.stream_id)}'
        f',"time":"{format_time(event.recorded_at)}","streamversion":{event.version}'
        f'{ids},"data":{event.data_json}}}'
    )
    headers = [
        ("ce_id", event_id.encode()),
        ("ce_type", ce_type_header),
        ("content-type", _STRUCTURED_HEADER),
    ]
    if parent is not None:
        headers.append((TRACEPARENT, parent.encode()))
    return OutgoingRecord(event.stream_id.encode(), value.encode(), headers)


def stored_traceparent(event: RecordedEvent) -> str | None:
    """The traceparent the append stored in the event's metadata, if any."""
    return _trace(event.metadata_json)[1]


@lru_cache(maxsize=256)  # the events of one append share their metadata
def _trace(metadata_json: str) -> tuple[str, str | None]:
    if not any(key in metadata_json for key in ("correlation_id", "causation_id", TRACEPARENT)):
        return "", None
    metadata = json.loads(metadata_json)
    ids = _trace_ids(metadata)
    ids.pop(TRACEPARENT, None)
    parent = metadata.get(TRACEPARENT)
    fragment = "".join(f',"{name}":{_str(value)}' for name, value in ids.items())
    return fragment, parent if isinstance(parent, str) else None


def _trace_ids(metadata: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, name in (
        ("correlation_id", "correlationid"), ("causation_id", "causationid"),
        (TRACEPARENT, TRACEPARENT),
    ):  # fmt: skip
        value = metadata.get(key)
        if value is not None:
            out[name] = str(value)
    return out


def from_kafka(value: bytes | None, headers: Headers) -> CloudEvent:
    """Read a record in structured or binary content mode; MalformedEvent when it is neither."""
    by_name = {name.lower(): raw for name, raw in headers}
    if "ce_specversion" in by_name:
        return _from_binary(value, by_name)
    if value is None:
        raise MalformedEvent("a tombstone (null value) is not a CloudEvent")
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"value is not JSON: {exc}") from None
    if not isinstance(document, dict) or "specversion" not in document:
        raise MalformedEvent("value is neither a structured CloudEvent nor has ce_ headers")
    return _from_attributes(document, document.get("data"))


def _from_binary(value: bytes | None, headers: Mapping[str, bytes]) -> CloudEvent:
    attributes: dict[str, Any] = {}
    for name, raw in headers.items():
        if name.startswith("ce_"):
            attributes[name[3:]] = _decode_header(name, raw)
    content_type = headers.get("content-type")
    if content_type is not None:
        attributes["datacontenttype"] = _decode_header("content-type", content_type)
    if METADATA_HEADER in headers:
        try:
            metadata = json.loads(headers[METADATA_HEADER])
        except json.JSONDecodeError:
            metadata = {}
        if isinstance(metadata, dict):
            for name, trace in _trace_ids(metadata).items():
                attributes.setdefault(name, trace)
    data: Any = None
    if value is not None:
        if (attributes.get("datacontenttype") or DATA_CONTENT_TYPE).startswith(DATA_CONTENT_TYPE):
            try:
                data = json.loads(value)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise MalformedEvent(f"data is not JSON: {exc}") from None
        else:
            data = value
    event = _from_attributes(attributes, data)
    if event.dataschema is None and event.schemaversion is not None:
        schema = dataschema_for(event.service, event.event_type, event.schemaversion)
        event = replace(event, dataschema=schema)
    return event


def _decode_header(name: str, raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise MalformedEvent(f"header {name} is not UTF-8") from None


def _from_attributes(attributes: Mapping[str, Any], data: Any) -> CloudEvent:
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        raise MalformedEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if str(attributes["specversion"]) != SPECVERSION:
        raise MalformedEvent(f"specversion {attributes['specversion']!r} is not {SPECVERSION}")
    ints: dict[str, int | None] = {}
    for name in INT_ATTRIBUTES:
        raw = attributes.get(name)
        try:
            ints[name] = None if raw is None else int(raw)
        except (TypeError, ValueError):
            raise MalformedEvent(f"{name} {raw!r} is not an integer") from None
    time_raw = attributes.get("time")
    return CloudEvent(
        id=str(attributes["id"]),
        source=str(attributes["source"]),
        type=str(attributes["type"]),
        data=data,
        subject=_opt(attributes.get("subject")),
        time=None if time_raw is None else parse_time(str(time_raw)),
        datacontenttype=_opt(attributes.get("datacontenttype")),
        dataschema=_opt(attributes.get("dataschema")),
        streamversion=ints["streamversion"],
        schemaversion=ints["schemaversion"],
        correlationid=_opt(attributes.get("correlationid")),
        causationid=_opt(attributes.get("causationid")),
        extensions={k: v for k, v in attributes.items() if k not in KNOWN},
    )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
