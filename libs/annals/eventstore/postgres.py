"""The PostgreSQL adapter of the event store (asyncpg on the hot paths)."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any, Protocol

import asyncpg

from annals.eventstore import streams
from annals.eventstore.appendsql import APPEND_SQL
from annals.eventstore.database import PostgresDatabase, PostgresSession
from annals.eventstore.encoding import (
    DEFAULT_MAX_EVENT_BYTES,
    EncodedBatch,
    encode_batch,
    original_result,
)
from annals.eventstore.errors import (
    InvalidEvent,
    StreamDeleted,
    StreamTypeMismatch,
    WrongExpectedVersion,
)
from annals.eventstore.pgstores import PostgresKeyStore, PostgresSnapshotStore
from annals.eventstore.pool import TransactionConnection
from annals.eventstore.ports import (
    ANY,
    START,
    AppendResult,
    Checkpoint,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    Session,
    StreamInfo,
    expected_code,
)
from annals.eventstore.subscription import CHANNEL, CatchUp, Listener, Notifier, follow
from annals.eventstore.versions import kind_of

log = logging.getLogger(__name__)

COLUMNS = (
    "global_position, tx_id, stream_id, stream_type, version, event_id, "
    "event_type, schema_version, data, metadata, recorded_at"
)
READ_ALL = f"""
SELECT {COLUMNS} FROM eventstore.events
 WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
   AND ($4::text[] IS NULL OR event_type = ANY($4::text[]))
   AND ($5::text[] IS NULL OR stream_type = ANY($5::text[]))
 ORDER BY tx_id, global_position LIMIT $3
"""
# One round trip: the stream row (tombstone, limits) and its events; no row: no stream.
_READ_STREAM = """
SELECT s.deleted_at IS NOT NULL, e.*
  FROM eventstore.streams s
  LEFT JOIN LATERAL (
    SELECT {columns} FROM eventstore.events ev
     WHERE ev.stream_id = s.stream_id AND ev.version {op} $2
       AND (s.max_count IS NULL OR ev.version > s.version - s.max_count)
       AND (s.max_age IS NULL OR ev.recorded_at >= now() - s.max_age)
     ORDER BY ev.version {direction} LIMIT $3) e ON s.deleted_at IS NULL
 WHERE s.stream_id = $1
 ORDER BY e.version {direction}
"""
READ_FORWARD = _READ_STREAM.format(columns=COLUMNS, op=">=", direction="ASC")
READ_BACKWARD = _READ_STREAM.format(columns=COLUMNS, op="<=", direction="DESC")
GET_STREAM = (
    "SELECT stream_id, stream_type, version, max_count, max_age, deleted_at IS NOT NULL "
    "FROM eventstore.streams WHERE stream_id = $1"
)
FIND_IDS = f"SELECT {COLUMNS} FROM eventstore.events WHERE event_id = ANY($1::uuid[])"
NO_LIMIT = 2**31 - 1


class Queries(Protocol):
    """What the store queries: the database's pool, or one connection inside a transaction."""

    def acquire(self) -> AbstractAsyncContextManager[Any]:
        """A connection (or the transaction's own)."""
        ...

    async def fetch(self, query: str, *args: Any) -> Any:
        """All rows."""
        ...

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """The first row or None."""
        ...

    async def execute(self, query: str, *args: Any) -> Any:
        """The statement's status."""
        ...


def to_records(rows: Sequence[Any]) -> list[RecordedEvent]:
    """RecordedEvents of rows selected with COLUMNS."""
    return [RecordedEvent(*row) for row in rows]


def statement_args(stream_id: str, stype: str, batch: EncodedBatch, single: bool) -> list[Any]:
    """Parameters $1..$7 of the append statement: scalars for one event, else arrays."""
    columns = (batch.event_ids, batch.event_types, batch.schema_versions, batch.data)
    if single:
        return [stream_id, stype, *(c[0] for c in columns), batch.metadata[0]]
    return [stream_id, stype, *columns, batch.metadata]


class PostgresEventStore(CatchUp):
    """Event store on one PostgreSQL database, used as the service role."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        listen_dsn: str | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        notify_interval: float = 0.005,
    ) -> None:
        self.database = database
        self._queries: Queries = database
        self.max_event_bytes = max_event_bytes
        self.notifier = Notifier(database, CHANNEL, notify_interval)
        self.listener = Listener(listen_dsn, CHANNEL) if listen_dsn else None
        self.keys = PostgresKeyStore(database)
        self.snapshots = PostgresSnapshotStore(database)
        self._owns_database = False

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        notify_interval: float = 0.005,
        **options: Any,
    ) -> PostgresEventStore:
        """Open a database of its own at `dsn` (PostgresDatabase.open takes `options`: pool
        sizes, session settings, timeouts, availability) and return the store on it.

        Tools and tests use it; a service's composition root opens the database itself and
        passes it to each of its stores. close() closes a database opened here.
        """
        database = await PostgresDatabase.open(dsn, **options)
        return cls.owning(
            database,
            listen_dsn=dsn,
            max_event_bytes=max_event_bytes,
            notify_interval=notify_interval,
        )

    @classmethod
    def owning(cls, database: PostgresDatabase, **kwargs: Any) -> PostgresEventStore:
        """A store on `database` that closes it when the store closes."""
        store = cls(database, **kwargs)
        store._owns_database = True
        return store

    def bound_to(self, session: Session) -> PostgresEventStore:
        """This store working inside `session`'s open transaction (appends commit with it).

        It shares this store's notifier and snapshot store; reads and appends of events and
        subject keys go through the session's connection, so a unit of work never waits for a
        second pooled connection while it holds one.
        """
        if not isinstance(session, PostgresSession):
            raise TypeError(f"a PostgreSQL store joins PostgreSQL sessions, not {session!r}")
        bound = copy.copy(self)
        bound._queries = queries = TransactionConnection(session.connection)
        bound.keys = self.keys.bound_to(queries)
        bound.listener = None
        bound._owns_database = False
        return bound

    async def close(self) -> None:
        """Stop the notifier and listener; close the database if connect() opened it."""
        await self.notifier.close()
        if self.listener is not None:
            await self.listener.close()
        if self._owns_database:
            await self.database.close()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        metadata: Mapping[str, Any] | None = None,
        *,
        stream_type: str | None = None,
    ) -> AppendResult:
        """Append events in one transaction after checking the expected version."""
        code = expected_code(expected_version)
        streams.check_stream_id(stream_id)
        batch = encode_batch(events, metadata, self.max_event_bytes)
        stype = stream_type or streams.kind_of(stream_id)
        kind = kind_of(code)
        single = len(batch.event_ids) == 1
        args = statement_args(stream_id, stype, batch, single)
        if kind == "exact":
            args.append(code)
        carried = self.notifier.carry()
        try:
            async with self._queries.acquire() as conn:
                rows = await conn.fetch(APPEND_SQL[kind, carried is not None, single], *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_event_id_key":
                return await self._resolve_duplicate(stream_id, batch, expected_version, None)
            raise
        except (asyncpg.DataError, asyncpg.exceptions.ProgramLimitExceededError) as exc:
            raise InvalidEvent(str(exc)) from exc
        if not rows:
            return await self._rejected(stream_id, stype, batch, expected_version)
        self.notifier.appended(carried)
        if len(rows) == 1:
            return AppendResult(stream_id, rows[0][0], (rows[0][1],))
        ordered = sorted(rows)
        return AppendResult(stream_id, ordered[-1][0], tuple(r[1] for r in ordered))

    async def _rejected(
        self, stream_id: str, stype: str, batch: EncodedBatch, expected: ExpectedVersion
    ) -> AppendResult:
        """Why the stream was not in the expected state, as the right error (or a replay)."""
        info = await self.get_stream(stream_id)
        if info is not None and info.deleted:
            raise StreamDeleted(stream_id)
        if info is not None and info.stream_type != stype:
            raise StreamTypeMismatch(
                f"stream {stream_id!r} has type {info.stream_type!r}, not {stype!r}"
            )
        current = 0 if info is None else info.version
        return await self._resolve_duplicate(stream_id, batch, expected, current)

    async def _resolve_duplicate(
        self,
        stream_id: str,
        batch: EncodedBatch,
        expected: ExpectedVersion,
        current: int | None,
    ) -> AppendResult:
        """The original result when these events are already stored, else the right error."""
        found = {
            r.event_id: r for r in to_records(await self._queries.fetch(FIND_IDS, batch.event_ids))
        }
        if not found and current is not None:
            raise WrongExpectedVersion(stream_id, expected, current)
        return original_result(stream_id, batch, [found.get(i) for i in batch.event_ids])

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from a version, honouring max-count, max-age and tombstones."""
        lim = NO_LIMIT if limit is None else limit
        if backwards:
            start = NO_LIMIT if from_version is None else from_version
            rows = await self._queries.fetch(READ_BACKWARD, stream_id, start, lim)
        else:
            start = 1 if from_version is None else from_version
            rows = await self._queries.fetch(READ_FORWARD, stream_id, start, lim)
        if not rows:
            return []
        if rows[0][0]:
            raise StreamDeleted(stream_id)
        if rows[0][1] is None:
            return []
        return [RecordedEvent(*row[1:]) for row in rows]

    async def read_all(
        self,
        after: Checkpoint | None = None,
        limit: int = 1000,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:
        """Next events after a checkpoint, only from transactions no snapshot still sees open."""
        tx, pos = after or START
        rows = await self._queries.fetch(
            READ_ALL,
            tx,
            pos,
            limit,
            None if event_types is None else list(event_types),
            None if stream_types is None else list(stream_types),
        )
        return to_records(rows)

    def subscribe_all(
        self,
        after: Checkpoint | None = None,
        *,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RecordedEvent]:
        """Follow the store from `after`: woken by NOTIFY, polling with back-off as fallback."""
        return follow(
            self.read_all,
            self.listener,
            after or START,
            event_types=event_types,
            stream_types=stream_types,
            batch_size=batch_size,
        )

    async def get_stream(self, stream_id: str) -> StreamInfo | None:
        """The stream's row, or None when it has no events."""
        row = await self._queries.fetchrow(GET_STREAM, stream_id)
        return None if row is None else StreamInfo(*row)

    async def set_stream_metadata(
        self,
        stream_id: str,
        *,
        max_count: int | None = None,
        max_age: timedelta | None = None,
    ) -> None:
        """Set max-count / max-age of an existing stream (None clears the limit)."""
        if max_count is not None and (type(max_count) is not int or max_count < 1):
            raise InvalidEvent(f"max_count must be an int >= 1: {max_count!r}")
        row = await self._queries.fetchrow(
            "SELECT eventstore.set_stream_metadata($1, $2, $3)", stream_id, max_count, max_age
        )
        if row is None or not row[0]:
            raise WrongExpectedVersion(stream_id, "an existing stream", 0)

    async def delete_stream(self, stream_id: str, expected_version: ExpectedVersion = ANY) -> None:
        """Soft-delete: put a tombstone on the stream; its events stay in the global log."""
        code = expected_code(expected_version)
        streams.check_stream_id(stream_id)
        async with self._queries.acquire() as conn, conn.transaction():
            if code in (0, -1):
                await conn.execute(
                    "INSERT INTO eventstore.streams (stream_id, stream_type, version) "
                    "VALUES ($1, $2, 0) ON CONFLICT (stream_id) DO NOTHING",
                    stream_id,
                    streams.kind_of(stream_id),
                )
            row = await conn.fetchrow(
                "SELECT version, deleted_at IS NOT NULL FROM eventstore.streams "
                "WHERE stream_id = $1 FOR UPDATE",
                stream_id,
            )
            current = 0 if row is None else row[0]
            if row is not None and row[1]:
                raise StreamDeleted(stream_id)
            if row is None or (code >= 0 and current != code):
                raise WrongExpectedVersion(stream_id, expected_version, current)
            await conn.execute("SELECT eventstore.tombstone_stream($1)", stream_id)
