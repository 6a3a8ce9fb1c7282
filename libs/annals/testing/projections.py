"""Given / then for projection handlers, on staged rows (no database).

    spec = ProjectionSpec(order_summary.PROJECTION)
    spec.given(placed, confirmed).then_rows("order_summary", {("o1",): {"status": "confirmed"}})

Rows a handler reads start absent (a fresh read model) unless `existing` stages them; `lookups`
stand for what the projection's `prepare` would have loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annals.projections.events import Event
from annals.projections.projection import NotLoaded, Projection, Rows
from annals.projections.tables import Key

SCHEMA = "spec_v1"


@dataclass(frozen=True)
class ProjectionSpec:
    """A projection under test, with the lookups its `prepare` would provide."""

    projection: Projection
    lookups: Mapping[str, Any] = field(default_factory=dict)
    existing: Mapping[str, Mapping[Key, dict[str, Any]]] = field(default_factory=dict)

    def given(self, *events: Event) -> Then:
        """Apply the events, in order, through the projection's handlers."""
        rows = Rows(self.projection.table_sql(SCHEMA))
        rows.lookups.update(self.lookups)
        for table, stored in self.existing.items():
            rows.loaded[table].update({k: dict(v) for k, v in stored.items()})
        for event in events:
            for table, key in self.projection.keys(event):
                rows.loaded[table].setdefault(key, None)
            handler = self.projection.handlers.get(event.type)
            if handler is not None:
                handler(rows, event)
        return Then(rows)


@dataclass(frozen=True)
class Then:
    """The rows staged by the given events."""

    rows: Rows

    def then_rows(self, table: str, expected: Mapping[Key, Mapping[str, Any] | None]) -> Then:
        """Assert each listed row has these column values (None: the row is absent)."""
        for key, columns in expected.items():
            row = self.row(table, key)
            if columns is None:
                if row is not None:
                    raise AssertionError(f"{table} {key!r} exists: {row}")
                continue
            if row is None:
                raise AssertionError(f"{table} {key!r} is absent, expected {dict(columns)}")
            actual = {name: row.get(name) for name in columns}
            if actual != dict(columns):
                raise AssertionError(f"{table} {key!r} has {actual}, expected {dict(columns)}")
        return self

    def row(self, table: str, key: Key) -> dict[str, Any] | None:
        """A row as staged (None: absent, or never touched by the events)."""
        try:
            return self.rows.get(table, key)
        except NotLoaded:
            return None

    def then_merged(self, table: str, key: Key, **adds: Any) -> Then:
        """Assert the increments staged for one row (merge-written aggregates)."""
        merge = self.rows.merges[table].get(key)
        actual = {name: merge.adds.get(name) if merge else None for name in adds}
        if actual != adds:
            raise AssertionError(f"{table} {key!r} adds {actual}, expected {adds}")
        return self
