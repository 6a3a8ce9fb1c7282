"""The event store's tables, described with SQLAlchemy Core metadata (schema `eventstore`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import UserDefinedType

SCHEMA = "eventstore"
metadata = MetaData(schema=SCHEMA)


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id type."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """DDL name of the type."""
        return "xid8"


NOW = text("now()")

streams = Table(
    "streams",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("stream_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("max_count", Integer, CheckConstraint("max_count > 0")),
    Column("max_age", Interval),
    Column("deleted_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

events = Table(
    "events",
    metadata,
    Column("global_position", BigInteger, Identity(always=True), nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("stream_type", Text, nullable=False),
    Column("version", Integer, CheckConstraint("version > 0"), nullable=False),
    Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("schema_version", Integer, nullable=False, server_default=text("1")),
    Column("data", postgresql.JSONB, nullable=False),
    Column("metadata", postgresql.JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("tx_id", Xid8(), nullable=False, server_default=text("pg_current_xact_id()")),
    # The readers' order (docs/rules.md#ordering) is the primary key: no other index on positions.
    PrimaryKeyConstraint("tx_id", "global_position", name="events_pkey"),
    UniqueConstraint("stream_id", "version", name="events_stream_version_key"),
    UniqueConstraint("event_id", name="events_event_id_key"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", postgresql.JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("key", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("forgotten_at", DateTime(timezone=True)),
)


def create_ddl(*tables: Table) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of tables, for PostgreSQL."""
    dialect = postgresql.dialect()
    out: list[str] = []
    for table in tables:
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        out.extend(str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in table.indexes)
    return out
