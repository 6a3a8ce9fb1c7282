"""Decoding Debezium's JSON records (with or without the schema envelope) into typed changes."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from annals.cdc.changes import (
    Change,
    Event,
    Heartbeat,
    Op,
    Position,
    RowChange,
    SchemaChange,
    Source,
    Tombstone,
)

DECIMAL = "org.apache.kafka.connect.data.Decimal"
VARIABLE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
HEARTBEAT_PREFIX = "__debezium-heartbeat"


class DecodeError(ValueError):
    """A record that is not a Debezium change event."""


class KafkaRecord(Protocol):
    """What decode_record needs of a consumer record (aiokafka's ConsumerRecord fits)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


def _load(data: bytes | str | Mapping[str, Any] | None) -> Any:
    if data is None or isinstance(data, Mapping):
        return data
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise DecodeError(f"not JSON: {error}") from None


def _unwrap(document: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """Split JsonConverter's `{"schema", "payload"}` envelope (schemas.enable=true)."""
    if isinstance(document, Mapping) and set(document) == {"schema", "payload"}:
        return document["payload"], document["schema"]
    return document, None


def decimal_from_bytes(encoded: str, scale: int) -> Decimal:
    """A Connect Decimal: base64 of the unscaled value, big-endian two's complement."""
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


def _convert(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Turn schema-typed values (precise decimals) into Python values."""
    if value is None or schema is None:
        return value
    name = schema.get("name")
    if name == DECIMAL and isinstance(value, str):
        return decimal_from_bytes(value, int((schema.get("parameters") or {}).get("scale", 0)))
    if name == VARIABLE_DECIMAL and isinstance(value, Mapping):
        return decimal_from_bytes(str(value["value"]), int(value["scale"]))
    if schema.get("type") == "struct" and isinstance(value, Mapping):
        fields = {f["field"]: f for f in schema.get("fields", [])}
        return {k: _convert(v, fields.get(k)) for k, v in value.items()}
    return value


def _image(value: Any, field: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DecodeError(f"row image is not an object: {value!r:.80}")
    return dict(_convert(value, field) if field is not None else value)


def _fields(schema: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if schema is None:
        return {}
    return {f["field"]: f for f in schema.get("fields", []) if "field" in f}


def decode(
    value: bytes | str | Mapping[str, Any] | None,
    key: bytes | str | Mapping[str, Any] | None = None,
    *,
    topic: str | None = None,
    position: Position | None = None,
) -> Change:
    """One Debezium record (value and key as JSON) as a RowChange, Tombstone or Heartbeat."""
    key_doc, key_schema = _unwrap(_load(key))
    key_data = _convert(key_doc, key_schema) if isinstance(key_doc, Mapping) else None
    document = _load(value)
    if document is None:
        return Tombstone(dict(key_data) if key_data is not None else None, position)
    payload, schema = _unwrap(document)
    if not isinstance(payload, Mapping):
        raise DecodeError(f"record value is not an object: {payload!r:.80}")
    if "op" not in payload:
        is_heartbeat_topic = topic is not None and topic.startswith(HEARTBEAT_PREFIX)
        if "ts_ms" in payload and (is_heartbeat_topic or set(payload) == {"ts_ms"}):
            return Heartbeat(int(payload["ts_ms"]), position)
        raise DecodeError(f"no `op` in record: {sorted(payload)!r:.120}")
    try:
        op = Op(payload["op"])
    except ValueError:
        raise DecodeError(f"unknown op {payload['op']!r}") from None
    source = payload.get("source")
    if not isinstance(source, Mapping):
        raise DecodeError("no `source` block in change event")
    fields = _fields(schema)
    ts = payload.get("ts_ms")
    return RowChange(
        op=op,
        key=dict(key_data) if key_data is not None else None,
        before=_image(payload.get("before"), fields.get("before")),
        after=_image(payload.get("after"), fields.get("after")),
        source=Source.from_json(source),
        ts_ms=None if ts is None else int(ts),
        position=position,
    )


def decode_record(record: KafkaRecord) -> Change:
    """A consumer record (aiokafka's or alike) decoded, with its topic/partition/offset."""
    position = Position(record.topic, record.partition, record.offset, record.timestamp)
    return decode(record.value, record.key, topic=record.topic, position=position)


class SchemaTracker:
    """Notices when a table's columns change, ignoring older changes read late.

    Records of one table are spread over partitions, so a change made before an ALTER can be
    read after one made after it. The tracker keeps the highest LSN that showed the current
    shape and ignores a different shape with a lower LSN, so a new column never "flaps".
    """

    def __init__(self) -> None:
        self._shapes: dict[str, tuple[tuple[str, ...], int]] = {}

    def columns(self, table: str) -> tuple[str, ...] | None:
        """The columns of the newest shape seen for a table."""
        shape = self._shapes.get(table)
        return None if shape is None else shape[0]

    def observe(self, change: RowChange) -> SchemaChange | None:
        """A SchemaChange when this change is newer than the current shape and has other columns."""
        columns = change.columns
        if not columns or change.op is Op.TRUNCATE:
            return None
        lsn = change.lsn if change.lsn is not None else -1
        shape = self._shapes.get(change.table)
        if shape is None:
            self._shapes[change.table] = (columns, lsn)
            return None
        current, seen = shape
        if set(current) == set(columns):
            self._shapes[change.table] = (current, max(seen, lsn))
            return None
        if lsn < seen:  # an older change read late: it still has the old shape
            return None
        self._shapes[change.table] = (columns, lsn)
        old, new = set(current), set(columns)
        added = tuple(c for c in columns if c not in old)
        removed = tuple(c for c in current if c not in new)
        return SchemaChange(change.table, added, removed, columns, change.lsn)


class ChangeDecoder:
    """Decodes records in order and emits a SchemaChange before the first row of a new shape."""

    def __init__(self) -> None:
        self.tracker = SchemaTracker()

    def feed(self, record: KafkaRecord) -> list[Event]:
        """The events of one record: [SchemaChange?, change]."""
        change = decode_record(record)
        if isinstance(change, RowChange):
            schema_change = self.tracker.observe(change)
            if schema_change is not None:
                return [schema_change, change]
        return [change]
