"""The audit trail: a page of an aggregate's events, personal data masked per scope."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from annals.commands.errors import NotFound
from annals.web.auth import Principal
from annals.web.commands import CommandApi
from annals.web.masking import mask

S = TypeVar("S")


class EventView(BaseModel):
    """One event of a stream as the audit trail shows it."""

    version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    recorded_at: datetime
    metadata: dict[str, Any]
    data: dict[str, Any]


class EventPage(BaseModel):
    """A page of a stream's events, oldest first; `next` links the following page."""

    stream_id: str
    events: list[EventView]
    next: str | None = None


async def stream_page(
    request: Request,
    api: CommandApi[S],
    aggregate_id: str,
    principal: Principal,
    from_version: int,
    limit: int,
) -> EventPage:
    """A page of the aggregate's events (the audit trail), personal data masked per scope."""
    stream_id = api.executor.decider.stream_id(aggregate_id)
    store = api.executor.store
    records = await store.read_stream(stream_id, from_version, limit=limit)
    if not records and await store.get_stream(stream_id) is None:
        raise NotFound(api.executor.decider.kind, aggregate_id)
    events = []
    for envelope in await api.codec.decode(records):
        record, event = envelope.record, envelope.event
        personal = api.registry.personal(record.event_type)
        data = event.model_dump(mode="json")
        for name in personal:
            data[name] = mask(data.get(name), principal)
        events.append(
            EventView(
                version=record.version,
                event_id=record.event_id,
                event_type=record.event_type,
                schema_version=type(event).schema_version,
                recorded_at=record.recorded_at,
                metadata=record.metadata,
                data=data,
            )
        )
    following = None
    if len(records) == limit:
        following = f"{request.url.path}?from_version={records[-1].version + 1}&limit={limit}"
    return EventPage(stream_id=stream_id, events=events, next=following)
