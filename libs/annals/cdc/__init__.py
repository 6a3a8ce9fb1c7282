"""Debezium change events decoded into typed changes, for projectors and importers."""

from annals.cdc.changes import (
    UNAVAILABLE,
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
from annals.cdc.decode import ChangeDecoder, DecodeError, SchemaTracker, decode, decode_record

__all__ = [
    "UNAVAILABLE",
    "Change",
    "ChangeDecoder",
    "DecodeError",
    "Event",
    "Heartbeat",
    "Op",
    "Position",
    "RowChange",
    "SchemaChange",
    "SchemaTracker",
    "Source",
    "Tombstone",
    "decode",
    "decode_record",
]
