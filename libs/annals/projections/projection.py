"""Declaring a projection (topics, tables, handlers) and the rows a batch stages for its tables.

Handlers are plain functions `handler(rows, event)`: they read rows the projection's `keys`
loaded for the batch and stage writes; the runtime writes everything staged, the applied stream
versions and the consumed positions in one transaction. A handler that raises leaves no trace
of the event in the batch (its staged writes are undone) and the event is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import sqlalchemy as sa

from annals.projections.events import Event
from annals.projections.tables import Key, TableSql

Handler = Callable[["Rows", Event], None]
Keys = Callable[[Event], Iterable[tuple[str, Key]]]
Prepare = Callable[[asyncpg.Connection, Sequence[Event], "Rows"], Awaitable[None]]
_MISSING = object()


def no_keys(event: Event) -> Iterable[tuple[str, Key]]:
    """A projection whose handlers read no stored rows."""
    return ()


@dataclass(frozen=True)
class Projection:
    """A read model: the topics it reads, its tables and a handler per event type.

    `keys(event)` names the rows (table, primary key) the event's handler reads with
    `rows.get`; they are loaded for the whole batch with one query per table. `prepare` may
    look up other data for a batch (e.g. another read model) into `rows.lookups`. Rows written
    by events of several streams (aggregates) must use `rows.merge` (increments), never
    get-then-put, because those streams are consumed by different workers.
    """

    name: str
    topics: tuple[str, ...]
    tables: tuple[sa.Table, ...]
    handlers: Mapping[str, Handler]
    keys: Keys = no_keys
    prepare: Prepare | None = None
    database: str = "readmodels"
    view_schema: str = "readmodels"
    personal: bool = False
    # Event types that wipe a subject's personal data: also applied to retired versions.
    erasures: tuple[str, ...] = ()
    # Table -> its columns of personal data, in rows whose first key column is the subject
    # (what `annals privacy report` checks in every version).
    personal_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def table_sql(self, schema: str) -> dict[str, TableSql]:
        """The SQL of every table in `schema`."""
        return {t.name: TableSql(t, schema) for t in self.tables}


@dataclass
class Merge:
    """Staged partial write of one row: columns replaced, incremented, kept at their maximum."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    maxes: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> Merge:
        """An independent copy."""
        return Merge(dict(self.sets), dict(self.adds), dict(self.maxes))

    def shape(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Which columns are written how (rows of one shape go in one statement)."""
        return (tuple(sorted(self.sets)), tuple(sorted(self.adds)), tuple(sorted(self.maxes)))


class NotLoaded(LookupError):
    """A handler read a row its projection's `keys` did not name for the event."""


class Rows:
    """Rows loaded for a batch and the writes handlers staged, with per-event undo."""

    def __init__(self, tables: Mapping[str, TableSql]) -> None:
        self.tables = tables
        self.loaded: dict[str, dict[Key, dict[str, Any] | None]] = {t: {} for t in tables}
        self.puts: dict[str, dict[Key, dict[str, Any]]] = {t: {} for t in tables}
        self.deletes: dict[str, set[Key]] = {t: set() for t in tables}
        self.merges: dict[str, dict[Key, Merge]] = {t: {} for t in tables}
        self.lookups: dict[str, Any] = {}
        # Per event: (table, key, put before | _MISSING, deleted before, merge before | _MISSING)
        self._undo: list[tuple[str, Key, Any, Any, Any]] | None = None

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        """The row as staged or loaded (a copy), None when absent."""
        if key in self.deletes[table]:
            return None
        staged = self.puts[table].get(key)
        if staged is not None:
            return dict(staged)
        loaded = self.loaded[table].get(key, _MISSING)
        if loaded is _MISSING:
            raise NotLoaded(f"{table} {key!r} was not named by the projection's keys()")
        return None if loaded is None else dict(loaded)  # type: ignore[call-overload]

    def put(self, table: str, row: dict[str, Any]) -> None:
        """Stage the whole row (insert or replace)."""
        key = self.tables[table].key_of(row)
        puts, deletes = self.puts[table], self.deletes[table]
        if self._undo is not None:
            self._undo.append((table, key, puts.get(key), key in deletes, _MISSING))
        deletes.discard(key)
        puts[key] = row

    def delete(self, table: str, key: Key) -> None:
        """Stage the row's deletion."""
        puts, deletes = self.puts[table], self.deletes[table]
        merged = self.merges[table].pop(key, None)
        if self._undo is not None:
            self._undo.append((table, key, puts.get(key), key in deletes, merged or _MISSING))
        puts.pop(key, None)
        deletes.add(key)

    def merge(
        self,
        table: str,
        key: Key,
        *,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, Any] | None = None,
        maxes: Mapping[str, Any] | None = None,
    ) -> None:
        """Stage a partial write that commutes with other workers' writes to the same row."""
        current = self.merges[table].get(key)
        if self._undo is not None:
            before = None if current is None else current.copy()
            self._undo.append((table, key, _MISSING, None, before))
        merged = current or Merge()
        merged.sets.update(sets or {})
        for column, value in (adds or {}).items():
            merged.adds[column] = merged.adds.get(column, 0) + value
        for column, value in (maxes or {}).items():
            seen = merged.maxes.get(column)
            if value is not None and (seen is None or value > seen):
                merged.maxes[column] = value
        self.merges[table][key] = merged

    def begin_event(self) -> None:
        """Start recording undo steps for one event."""
        self._undo = []

    def end_event(self, ok: bool) -> None:
        """Keep the event's writes (ok) or undo them."""
        undo, self._undo = self._undo or [], None
        if ok:
            return
        for table, key, put, deleted, merge in reversed(undo):
            if put is not _MISSING:  # a put or a delete
                if put is None:
                    self.puts[table].pop(key, None)
                else:
                    self.puts[table][key] = put
                if deleted:
                    self.deletes[table].add(key)
                else:
                    self.deletes[table].discard(key)
            if merge is None:
                self.merges[table].pop(key, None)
            elif merge is not _MISSING:
                self.merges[table][key] = merge

    @property
    def writes(self) -> int:
        """How many row writes are staged."""
        return sum(
            len(self.puts[t]) + len(self.deletes[t]) + len(self.merges[t]) for t in self.tables
        )

    def seed(self, previous: Rows) -> None:
        """Start from the rows a previous batch of the same (sole) writer staged."""
        for name in self.tables:
            self.loaded[name].update(previous.puts[name])
            for key in previous.deletes[name]:
                self.loaded[name][key] = None
            for key in previous.merges[name]:
                self.loaded[name].pop(key, None)

    async def load(self, conn: asyncpg.Connection, wanted: Mapping[str, set[Key]]) -> None:
        """Load the rows of `wanted` keys per table (absent rows remembered as None)."""
        for table, keys in wanted.items():
            todo = [k for k in keys if k not in self.loaded[table] and k not in self.puts[table]]
            if not todo:
                continue
            sql = self.tables[table]
            for record in await conn.fetch(sql.select_sql, *sql.key_columns(todo)):
                row = sql.decode(record)
                self.loaded[table][sql.key_of(row)] = row
            for key in todo:
                self.loaded[table].setdefault(key, None)

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Write every staged delete, put and merge."""
        for name, sql in self.tables.items():
            if self.deletes[name]:
                await conn.execute(sql.delete_sql, *sql.key_columns(self.deletes[name]))
            if self.puts[name]:
                puts = self.puts[name].values()
                await conn.execute(sql.upsert_sql, *sql.columns_of(puts, sql.columns))
            by_shape: dict[tuple[tuple[str, ...], ...], list[dict[str, Any]]] = {}
            for key, merge in self.merges[name].items():
                row = dict(zip(sql.key, key, strict=True))
                row.update(merge.sets)
                row.update(merge.adds)
                row.update(merge.maxes)
                by_shape.setdefault(merge.shape(), []).append(row)
            for (sets, adds, maxes), rows in by_shape.items():
                columns = [*sql.key, *sets, *adds, *maxes]
                await conn.execute(sql.merge_sql(sets, adds, maxes), *sql.columns_of(rows, columns))
