"""Loading and saving aggregates: replay or snapshot + tail, append with the loaded version."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from annals.eventstore.codec import EventCodec
from annals.eventstore.domain import Aggregate
from annals.eventstore.ports import AppendResult, EventStore, Snapshot, SnapshotStore

A = TypeVar("A", bound=Aggregate[Any])
PAGE = 1000


class Repository(Generic[A]):
    """Loads aggregates of one class from a store and saves their pending events."""

    def __init__(
        self,
        store: EventStore,
        codec: EventCodec,
        aggregate: type[A],
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self.store = store
        self.codec = codec
        self.aggregate = aggregate
        every = aggregate.snapshot_every
        self.snapshots = snapshots if every else None
        if every and aggregate.state_type is None:
            raise TypeError(f"{aggregate.__name__} takes snapshots but has no state_type")

    async def load(self, stream_id: str) -> A:
        """The aggregate at its latest version (version 0 when the stream has no events)."""
        cls = self.aggregate
        state: Any = None
        version = 0
        if self.snapshots is not None and cls.state_type is not None:
            snap = await self.snapshots.load_snapshot(stream_id)
            if snap is not None and snap.schema_version == cls.state_schema_version:
                state = cls.state_type.model_validate(snap.state)
                version = snap.version
        if state is None:
            state = cls.initial_state()
        while True:
            records = await self.store.read_stream(stream_id, version + 1, limit=PAGE)
            if not records:
                break
            for envelope in await self.codec.decode(records):
                state = cls.evolve(state, envelope.event)
            version = records[-1].version
            if len(records) < PAGE:
                break
        return cls(stream_id, state, version)

    async def save(
        self,
        aggregate: A,
        metadata: Mapping[str, Any] | None = None,
        *,
        event_ids: Sequence[uuid.UUID] | None = None,
    ) -> AppendResult | None:
        """Append the pending events expecting the loaded version; snapshot every N events."""
        if not aggregate.pending:
            return None
        new = await self.codec.encode(
            aggregate.stream_id, aggregate.pending, metadata=metadata, event_ids=event_ids
        )
        result = await self.store.append(
            aggregate.stream_id,
            new,
            aggregate.version,
            stream_type=aggregate.stream_type or None,
        )
        before = aggregate.version
        aggregate.mark_saved(result.version)
        every = aggregate.snapshot_every
        if self.snapshots is not None and every and result.version // every > before // every:
            await self.snapshot(aggregate)
        return result

    async def snapshot(self, aggregate: A) -> None:
        """Store the aggregate's state at its current version."""
        if self.snapshots is None:
            return
        state = aggregate.state
        if not isinstance(state, BaseModel):
            raise TypeError("snapshot states must be pydantic models")
        await self.snapshots.save_snapshot(
            Snapshot(
                aggregate.stream_id,
                aggregate.version,
                aggregate.state_schema_version,
                state.model_dump(mode="json"),
            )
        )
