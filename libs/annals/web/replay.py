"""Idempotent replay: a stored response answered again, its body rendered anew for the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from fastapi.responses import Response

from annals.web.auth import Principal
from annals.web.idempotency import StoredResponse
from annals.web.problems import Problem

if TYPE_CHECKING:
    from annals.web.commands import CommandApi

S = TypeVar("S")
JSON = "application/json"
KEPT_HEADERS = ("etag", "location", "x-consistency-token")  # replayed with a stored response


def kept_headers(response: Response) -> dict[str, str]:
    """The headers of a response that its replays carry."""
    return {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}


async def replay(api: CommandApi[S], stored: StoredResponse, principal: Principal) -> Response:
    """The stored response with its body rendered again, for `principal`, at its version."""
    state = None
    if not stored.forgotten and stored.aggregate_id is not None and stored.version:
        state = await state_at(api, stored.aggregate_id, stored.version)
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


async def state_at(api: CommandApi[S], aggregate_id: str, version: int) -> S | None:
    """The aggregate's state after `version` (None when the stream no longer has it)."""
    decider = api.executor.decider
    records = await api.executor.store.read_stream(decider.stream_id(aggregate_id), limit=version)
    if len(records) < version:
        return None
    events = [envelope.event for envelope in await api.codec.decode(records)]
    state: S = decider.replay(events)
    return state
