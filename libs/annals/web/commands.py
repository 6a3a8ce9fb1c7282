"""Running a command over HTTP: If-Match, Idempotency-Key, the events' metadata, the ETag.

The audit trail is annals.web.audit, masking annals.web.masking, the replay of a stored
response annals.web.replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from annals.commands.errors import NotFound
from annals.commands.executor import CommandExecutor, Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.blindindex import configured_index
from annals.eventstore.codec import EventCodec
from annals.eventstore.registry import EventRegistry
from annals.web.auth import Principal
from annals.web.conditional import etag, parse_if_match
from annals.web.context import correlation_id
from annals.web.idempotency import IdempotencyStore, StoredResponse, check_key, request_hashes
from annals.web.replay import JSON, kept_headers, replay

S = TypeVar("S")
# A service's handler: (command, target, unit of work or None, the service's deps) -> outcome.
Handler = Callable[[Any, Target, UnitOfWork | None, Any], Awaitable[Outcome[Any]]]
Render = Callable[[str, Any, int, Principal], BaseModel]


@dataclass
class CommandApi(Generic[S]):
    """What the routes of one service need: its handler and deps, how to load and render."""

    executor: CommandExecutor[S]
    handler: Handler
    deps: Any
    render: Render
    prefix: str
    startup: Callable[[], Awaitable[None]] | None = None  # awaited before the app serves
    # Tasks the app runs while it serves (e.g. a reactor's subscriber), cancelled as it stops.
    background: dict[str, Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyStore(self.executor.database, configured_index("idempotency"))

    async def handle(self, command: object, target: Target, uow: UnitOfWork | None) -> Outcome[S]:
        """Run the service's handler on the command with its deps."""
        outcome: Outcome[S] = await self.handler(command, target, uow, self.deps)
        return outcome

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


async def command_api(request: Request) -> CommandApi[Any]:
    """The service's CommandApi, built by the lifespan (a FastAPI dependency of every route).

    A coroutine on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hand-off per request (about a tenth of a command's time in the worker's profile).
    """
    api: CommandApi[Any] = request.app.state.api
    return api


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
                response.status_code, kept_headers(response), outcome.aggregate_id, outcome.version
            )
            return response
    return await replay(api, stored, principal)


async def get_aggregate(api: CommandApi[S], aggregate_id: str, principal: Principal) -> Response:
    """The aggregate rebuilt from its events, with its version as ETag (404 if it has none)."""
    aggregate = await api.executor.load(aggregate_id)
    if aggregate.version == 0:
        raise NotFound(api.executor.decider.kind, aggregate_id)
    outcome = Outcome(aggregate_id, aggregate.state, aggregate.version)
    return api.respond(outcome, principal, 200)
