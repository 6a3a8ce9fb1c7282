"""Comparing what the legacy application wrote with what arrived in Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from legacy.schema import PERSONAL_COLUMNS
from legacy.simulator import Applied

from annals.cdc import Event, RowChange, Tombstone

# --- comparing what was written with what arrived -----------------------------------------

KEYS = {
    "products": ("sku",),
    "stock_levels": ("sku", "warehouse"),
    "legacy_customers": ("legacy_id",),
}


def published(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A legacy row as the connector publishes it: personal columns left out, values on the wire."""
    left_out = PERSONAL_COLUMNS.get(table, ())
    return {k: wire(v) for k, v in row.items() if k not in left_out}


def wire(value: Any) -> Any:
    """A Python value as Debezium writes it in JSON (decimals as strings, UTC timestamps)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def row_key(change: RowChange) -> tuple[str, tuple[Any, ...]]:
    """(table, primary key) of a row change."""
    table = change.source.table
    return table, tuple((change.key or {})[k] for k in KEYS[table])


def by_key(events: list[Event]) -> dict[tuple[str, tuple[Any, ...]], list[RowChange]]:
    """Row changes of the data tables per key, in arrival order, replayed duplicates removed."""
    grouped: dict[tuple[str, tuple[Any, ...]], list[RowChange]] = defaultdict(list)
    seen: set[tuple[Any, ...]] = set()
    for event in events:
        if not isinstance(event, RowChange) or event.source.table not in KEYS:
            continue
        identity = (*row_key(event), event.op, event.lsn, event.source.sequence)
        if identity in seen:  # at-least-once: a change replayed after a restart
            continue
        seen.add(identity)
        grouped[row_key(event)].append(event)  # arrival order: one key, one partition
    return grouped


def journal_by_key(journal: list[Applied]) -> dict[tuple[str, tuple[Any, ...]], list[Applied]]:
    """The simulator's committed changes grouped per key, in commit order."""
    grouped: dict[tuple[str, tuple[Any, ...]], list[Applied]] = defaultdict(list)
    for applied in journal:
        if applied.op != "alter":
            grouped[(applied.table, applied.key)].append(applied)
    return grouped


def streamed_count(events: list[Event]) -> int:
    """Distinct streamed (not snapshot) row changes of the data tables."""
    return sum(len([c for c in cs if not c.is_snapshot]) for cs in by_key(events).values())


def tombstones(events: list[Event]) -> list[Tombstone]:
    """The tombstones among events."""
    return [e for e in events if isinstance(e, Tombstone)]


def annals(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the annals command line; output as the terminal would show it (wide)."""
    return subprocess.run(
        [sys.executable, "-m", "annals.cli.main", *args],
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
