"""SQL of a projection's tables, derived from their SQLAlchemy definitions, for one schema.

The hot path runs raw asyncpg: rows are sent as one array per column and unnested, so a batch
writes each table with one statement whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

DIALECT = postgresql.dialect()
# One encoder for every JSON column value (json.dumps with options builds one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
Key = tuple[Any, ...]


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


class TableSql:
    """Statements and row conversions of one table in one schema."""

    def __init__(self, table: sa.Table, schema: str) -> None:
        self.table = table
        self.name = table.name
        self.schema = schema
        self.columns = [c.name for c in table.columns]
        self.key = [c.name for c in table.primary_key.columns]
        if not self.key:
            raise ValueError(f"table {table.name} needs a primary key")
        self.types = {c.name: c.type.compile(dialect=DIALECT) for c in table.columns}
        self.json = frozenset(n for n, t in self.types.items() if t in ("JSONB", "JSON"))
        self.qualified = f"{quote(schema)}.{quote(table.name)}"
        self._merge_sql: dict[tuple[tuple[str, ...], ...], str] = {}

    def ddl(self) -> list[str]:
        """CREATE TABLE and CREATE INDEX statements of the table in this schema."""
        copy = self.table.to_metadata(sa.MetaData(), schema=self.schema)
        out = [str(CreateTable(copy).compile(dialect=DIALECT))]
        out += [str(CreateIndex(index).compile(dialect=DIALECT)) for index in copy.indexes]
        return out

    def _unnest(self, columns: Sequence[str]) -> str:
        args = ", ".join(f"${i}::{self.types[c]}[]" for i, c in enumerate(columns, 1))
        return f"unnest({args})"

    @cached_property
    def select_sql(self) -> str:
        """Rows of the keys given as one array per key column."""
        cols = ", ".join(quote(c) for c in self.columns)
        if len(self.key) == 1:
            k = self.key[0]
            return (
                f"SELECT {cols} FROM {self.qualified} WHERE {quote(k)} = ANY($1::{self.types[k]}[])"
            )
        keys = ", ".join(quote(k) for k in self.key)
        return (
            f"SELECT {cols} FROM {self.qualified} WHERE ({keys}) IN "
            f"(SELECT * FROM {self._unnest(self.key)})"
        )

    @cached_property
    def upsert_sql(self) -> str:
        """Insert or replace whole rows."""
        cols = ", ".join(quote(c) for c in self.columns)
        keys = ", ".join(quote(k) for k in self.key)
        sets = ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}" for c in self.columns if c not in self.key
        )
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        return (
            f"INSERT INTO {self.qualified} ({cols}) SELECT * FROM {self._unnest(self.columns)} "
            f"ON CONFLICT ({keys}) {action}"
        )

    @cached_property
    def delete_sql(self) -> str:
        """Delete the rows of the keys."""
        keys = ", ".join(quote(k) for k in self.key)
        return (
            f"DELETE FROM {self.qualified} WHERE ({keys}) IN "
            f"(SELECT * FROM {self._unnest(self.key)})"
        )

    def merge_sql(self, sets: Sequence[str], adds: Sequence[str], maxes: Sequence[str]) -> str:
        """Insert, or update: `sets` replaced, `adds` incremented, `maxes` kept at the greatest."""
        shape = (tuple(sets), tuple(adds), tuple(maxes))
        sql = self._merge_sql.get(shape)
        if sql is None:
            columns = [*self.key, *sets, *adds, *maxes]
            t = quote(self.name)
            updates = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in sets]
            updates += [f"{quote(c)} = {t}.{quote(c)} + EXCLUDED.{quote(c)}" for c in adds]
            updates += [
                f"{quote(c)} = GREATEST({t}.{quote(c)}, EXCLUDED.{quote(c)})" for c in maxes
            ]
            keys = ", ".join(quote(k) for k in self.key)
            sql = (
                f"INSERT INTO {self.qualified} AS {t} ({', '.join(quote(c) for c in columns)}) "
                f"SELECT * FROM {self._unnest(columns)} ON CONFLICT ({keys}) "
                + (f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING")
            )
            self._merge_sql[shape] = sql
        return sql

    def key_of(self, row: Mapping[str, Any]) -> Key:
        """The primary key of a row."""
        if len(self.key) == 1:
            return (row[self.key[0]],)
        return tuple(row[k] for k in self.key)

    def columns_of(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[list]:
        """One list per column of rows, JSON columns encoded."""
        rows = rows if isinstance(rows, list) else list(rows)
        out: list[list[Any]] = []
        for c in columns:
            values = [row.get(c) for row in rows]
            if c in self.json:
                values = [None if v is None else _ENCODE(v) for v in values]
            out.append(values)
        return out

    def key_columns(self, keys: Iterable[Key]) -> list[list[Any]]:
        """One list per key column of keys."""
        out: list[list[Any]] = [[] for _ in self.key]
        for key in keys:
            for i, value in enumerate(key):
                out[i].append(value)
        return out

    def decode(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A loaded row as a dict, JSON columns parsed."""
        row = dict(record)
        for c in self.json:
            if isinstance(row.get(c), str):
                row[c] = json.loads(row[c])
        return row
