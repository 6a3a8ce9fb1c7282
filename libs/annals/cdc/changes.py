"""Typed Debezium change events: row changes, tombstones, heartbeats and schema changes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Debezium puts this in a column it could not read (an unchanged TOASTed value without FULL).
UNAVAILABLE = "__debezium_unavailable_value"


class Op(enum.StrEnum):
    """Debezium's operation codes."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"  # a row of the initial snapshot
    TRUNCATE = "t"
    MESSAGE = "m"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a Kafka record was read (for checkpoints and dead letters)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """The `source` block: where and when the change was committed."""

    connector: str
    name: str
    db: str
    schema: str
    table: str
    ts_ms: int
    lsn: int | None
    tx_id: int | None
    snapshot: str
    sequence: str | None = None

    @property
    def is_snapshot(self) -> bool:
        """True for rows read by the initial (or an incremental) snapshot."""
        return self.snapshot not in ("false", "")

    @property
    def committed_at(self) -> datetime:
        """Commit time (snapshot rows: the time they were read)."""
        return datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)

    @classmethod
    def from_json(cls, source: Mapping[str, Any]) -> Source:
        """Read Debezium's source block."""
        snapshot = source.get("snapshot", "false")
        lsn, tx_id = source.get("lsn"), source.get("txId")
        return cls(
            connector=str(source.get("connector", "")),
            name=str(source.get("name", "")),
            db=str(source.get("db", "")),
            schema=str(source.get("schema", "")),
            table=str(source.get("table", "")),
            ts_ms=int(source.get("ts_ms") or 0),
            lsn=None if lsn is None else int(lsn),
            tx_id=None if tx_id is None else int(tx_id),
            snapshot=str(snapshot).lower() if snapshot is not None else "false",
            sequence=source.get("sequence"),
        )


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row changed (c/u/d), read by the snapshot (r) or a table truncated (t)."""

    op: Op
    key: dict[str, Any] | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: Source
    ts_ms: int | None = None
    position: Position | None = None

    @property
    def table(self) -> str:
        """`schema.table` of the changed row."""
        return f"{self.source.schema}.{self.source.table}"

    @property
    def lsn(self) -> int | None:
        """LSN of the change in the source database's WAL."""
        return self.source.lsn

    @property
    def is_snapshot(self) -> bool:
        """True for op r (rows present before the connector started)."""
        return self.op is Op.READ

    @property
    def row(self) -> dict[str, Any] | None:
        """The row's current values: `after`, or `before` for a delete."""
        return self.before if self.op is Op.DELETE else self.after

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names carried by this change (after, else before)."""
        image = self.after if self.after is not None else self.before
        return tuple(image) if image else ()

    @property
    def unavailable(self) -> tuple[str, ...]:
        """Columns whose value Debezium could not read (unchanged TOAST without FULL)."""
        return tuple(k for k, v in (self.after or {}).items() if v == UNAVAILABLE)

    def after_as(self, model: type[M]) -> M | None:
        """`after` validated into a pydantic model (decimal strings become Decimal, etc.)."""
        return None if self.after is None else model.model_validate(self.after)

    def before_as(self, model: type[M]) -> M | None:
        """`before` validated into a pydantic model."""
        return None if self.before is None else model.model_validate(self.before)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The null-valued record after a delete: lets log compaction forget the key."""

    key: dict[str, Any] | None
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A record of Debezium's heartbeat topic."""

    ts_ms: int
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """The columns of a captured table changed (seen in the first change with the new shape)."""

    table: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    columns: tuple[str, ...]
    lsn: int | None = None


Change = RowChange | Tombstone | Heartbeat
Event = RowChange | Tombstone | Heartbeat | SchemaChange
