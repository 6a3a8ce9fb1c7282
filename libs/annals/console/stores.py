"""What the console reads of the event stores: streams, their events, and correlations.

One pool per event store (the DSNs `annals projections rebuild --from store` uses); reads go
through the store adapter (annals.eventstore.postgres), and the few look-ups it has no method
for (streams of a type, events of a correlation id) are bounded by a LIMIT and the statement
timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from annals.eventstore import queries
from annals.eventstore.availability import is_outage, reason
from annals.eventstore.ports import RecordedEvent, StreamInfo
from annals.eventstore.postgres import PostgresEventStore

log = structlog.get_logger("annals.console")


@dataclass(frozen=True)
class StreamRow:
    """A stream found by a search: in which store, its id, version and last change."""

    store: str
    stream_id: str
    version: int
    updated_at: object


@dataclass(frozen=True)
class Found:
    """A stream with the store it lives in."""

    store: str
    info: StreamInfo


class Stores:
    """The platform's event stores by service name."""

    def __init__(self, stores: Mapping[str, PostgresEventStore]) -> None:
        self.stores = dict(stores)

    @classmethod
    async def open(cls, dsns: Mapping[str, str]) -> Stores:
        """Pools to every store (connected on first use, so a store that is away is a 503)."""
        opened = {}
        for name, dsn in dsns.items():
            opened[name] = await PostgresEventStore.connect(dsn, min_size=0, max_size=4)
        return cls(opened)

    async def close(self) -> None:
        """Close every pool."""
        for store in self.stores.values():
            with contextlib.suppress(Exception):
                await store.close()

    async def find(self, stream_id: str) -> Found | None:
        """The stream called `stream_id` in whichever store holds it."""
        for name, store in self.stores.items():
            info = await _unless_new(store.get_stream(stream_id), None)
            if info is not None:
                return Found(name, info)
        return None

    async def events(self, store: str, stream_id: str, from_version: int, limit: int) -> list:
        """Events of one stream from a version, oldest first."""
        return await self.stores[store].read_stream(stream_id, from_version, limit=limit)

    async def search(self, text: str, limit: int = 50) -> list[StreamRow]:
        """Streams whose type is `text`, or whose id starts with it, newest first."""
        out: list[StreamRow] = []
        for name, store in self.stores.items():
            rows = await _unless_new(queries.find_streams(store.database, text, limit), [])
            out += [StreamRow(name, *r) for r in rows]
        return sorted(out, key=lambda r: str(r.updated_at), reverse=True)[:limit]

    async def correlated(self, correlation_id: str, limit: int = 500) -> list[RecordedEvent]:
        """Every event of a correlation id, across the stores, in recorded order."""
        found: list[RecordedEvent] = []
        for store in self.stores.values():
            found += await _unless_new(
                queries.correlated(store.database, correlation_id, limit), []
            )
        return sorted(found, key=lambda r: (r.recorded_at, r.global_position))[:limit]


async def _unless_new(query: Awaitable[Any], empty: Any) -> Any:
    """The query's answer, or `empty` when the store has no tables yet or cannot be reached.

    A search spans every store: one that is away (or refuses the console's login) must not
    hide what the others hold, so it answers nothing and a warning names it.
    """
    try:
        return await query
    except asyncpg.UndefinedTableError:
        return empty
    except Exception as exc:
        if not (isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError) or is_outage(exc)):
            raise
        log.warning("console.store_unreachable", reason=reason(exc))
        return empty
