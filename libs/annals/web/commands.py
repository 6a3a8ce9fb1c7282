"""HTTP -> command -> events: If-Match, Idempotency-Key, metadata, ETag, reads of the stream."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from annals.commands.errors import NotFound
from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.blindindex import configured_index
from annals.eventstore.codec import EventCodec
from annals.eventstore.domain import REDACTED
from annals.eventstore.registry import EventRegistry
from annals.web.auth import Principal
from annals.web.conditional import etag, parse_if_match
from annals.web.context import correlation_id
from annals.web.idempotency import IdempotencyStore, StoredResponse, check_key, request_hashes
from annals.web.problems import Problem

S = TypeVar("S")
MASK = "***"
JSON = "application/json"
Handler = Callable[[Any, Target, UnitOfWork | None], Awaitable[Outcome[Any]]]
Render = Callable[[str, Any, int, Principal], BaseModel]


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


def mask(value: Any, principal: Principal) -> Any:
    """A personal value as `principal` may see it (masked without `read:pii`)."""
    if value is None or value == REDACTED or principal.has("read:pii"):
        return value
    return MASK


@dataclass
class CommandApi(Generic[S]):
    """What the generic routes need of one service: how to run, load and render its aggregate."""

    executor: CommandExecutor[S]
    handle: Handler
    render: Render
    prefix: str
    startup: Callable[[], Awaitable[None]] | None = None  # awaited before the app serves

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyStore(self.executor.database, configured_index("idempotency"))

    @property
    def codec(self) -> EventCodec:
        """The service's event codec."""
        return self.executor.codec

    @property
    def registry(self) -> EventRegistry:
        """The service's event registry."""
        return self.codec.registry

    def respond(self, outcome: Outcome[S], principal: Principal, status: int) -> Response:
        """The aggregate's JSON view, its version as ETag and a consistency token."""
        view = self.render(outcome.aggregate_id, outcome.state, outcome.version, principal)
        stream = self.executor.decider.stream_id(outcome.aggregate_id)
        headers = {
            "ETag": etag(outcome.version),
            "X-Consistency-Token": f"{stream}@{outcome.version}",
        }
        if status == 201:
            headers["Location"] = f"{self.prefix}/{outcome.aggregate_id}"
        return Response(view.model_dump_json(), status, headers, media_type=JSON)


def event_metadata(principal: Principal, command: object, causation: str | None) -> dict[str, Any]:
    """Metadata of the events a command appends: correlation, causation and actor."""
    return {
        "correlation_id": correlation_id(),
        "causation_id": causation or uuid.uuid4().hex,
        "actor": principal.subject,
        "command": type(command).__name__,
    }


async def run_command(
    request: Request,
    api: CommandApi[S],
    principal: Principal,
    aggregate_id: str,
    command: BaseModel,
    *,
    status: int = 200,
) -> Response:
    """Run a command with If-Match and Idempotency-Key; answer with the aggregate and its ETag."""
    expected = parse_if_match(request.headers.get("if-match"))
    key = request.headers.get("idempotency-key")
    target = Target(aggregate_id, expected, event_metadata(principal, command, key))
    if key is None:
        return api.respond(await api.handle(command, target, None), principal, status)
    payload = command.model_dump(mode="json")
    fingerprints = request_hashes(api.idempotency.index, request.method, request.url.path, payload)
    async with api.idempotency.claim(principal.subject, check_key(key), fingerprints) as claim:
        if isinstance(claim, StoredResponse):
            stored = claim
        else:
            outcome = await api.handle(command, target, claim.uow)
            response = api.respond(outcome, principal, status)
            await claim.save(
                response.status_code, _kept_headers(response), outcome.aggregate_id, outcome.version
            )
            return response
    return await _replay(api, stored, principal)


KEPT_HEADERS = ("etag", "location", "x-consistency-token")  # replayed with a stored response


def _kept_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}


async def _replay(api: CommandApi[S], stored: StoredResponse, principal: Principal) -> Response:
    """The stored response with its body rendered again, for `principal`, at its version."""
    state = None
    if not stored.forgotten and stored.aggregate_id is not None and stored.version:
        state = await _state_at(api, stored.aggregate_id, stored.version)
    if state is None or stored.aggregate_id is None or stored.version is None:
        raise Problem(
            410,
            "Response forgotten",
            "the aggregate this Idempotency-Key wrote was forgotten; its response is gone",
            slug="idempotent-response-forgotten",
        )
    view = api.render(stored.aggregate_id, state, stored.version, principal)
    headers = {**stored.headers, "Idempotent-Replayed": "true"}
    return Response(view.model_dump_json(), stored.status, headers, media_type=JSON)


async def _state_at(api: CommandApi[S], aggregate_id: str, version: int) -> S | None:
    """The aggregate's state after `version` (None when the stream no longer has it)."""
    decider = api.executor.decider
    records = await api.executor.store.read_stream(decider.stream_id(aggregate_id), limit=version)
    if len(records) < version:
        return None
    events = [envelope.event for envelope in await api.codec.decode(records)]
    state: S = decider.replay(events)
    return state


async def get_aggregate(api: CommandApi[S], aggregate_id: str, principal: Principal) -> Response:
    """The aggregate rebuilt from its events, with its version as ETag (404 if it has none)."""
    aggregate = await api.executor.load(aggregate_id)
    if aggregate.version == 0:
        raise NotFound(api.executor.decider.kind, aggregate_id)
    outcome = Outcome(aggregate_id, aggregate.state, aggregate.version)
    return api.respond(outcome, principal, 200)


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


def headers_doc(*names: str) -> Mapping[str, Any]:
    """OpenAPI docs of response headers."""
    docs = {
        "ETag": {"description": 'the stream version, e.g. "3"', "schema": {"type": "string"}},
        "Location": {"description": "URL of the created aggregate", "schema": {"type": "string"}},
        "X-Correlation-ID": {"description": "correlation id", "schema": {"type": "string"}},
        "X-Consistency-Token": {
            "description": "`<stream id>@<version>`: send it to the query API to read this write",
            "schema": {"type": "string", "examples": ["order-o1@3"]},
        },
    }
    return {name: docs[name] for name in names}
