"""Route pieces every service shares: id path parameters, write docs, the read routes.

No `from __future__ import annotations` here: FastAPI must see the local Annotated types.
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from annals.eventstore.identifiers import ID_PATTERN
from annals.web.audit import EventPage, stream_page
from annals.web.auth import Principal, require
from annals.web.commands import CommandApi, command_api, get_aggregate
from annals.web.problems import problem_docs

MAX_VERSION = 2**31 - 1
F = TypeVar("F", bound=Callable[..., Any])


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


# The write headers, documented on every command route and read by run_command (400 if malformed).
WRITE_HEADERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": 'Expected stream version as an ETag, e.g. "3" (412 if it differs)',
            "schema": {"type": "string", "pattern": r'^(\*|(W/)?"?[0-9]{1,9}"?)$'},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Replays the stored response of an earlier request with this key",
            "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
        },
    ]
}


def write_docs(status: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a command route answering `status`."""
    names = ("ETag", "X-Consistency-Token", "Location")
    headers = headers_doc(*names) if status == 201 else headers_doc(*names[:2])
    docs: dict[int | str, dict[str, Any]] = {status: {"headers": headers}}
    docs.update(problem_docs(400, 401, 403, 404, 409, 410, 412, 413, 422))
    return docs


def read_router(*, prefix: str, id_name: str, kind: str, view: type[BaseModel]) -> APIRouter:
    """GET <prefix>/{id} (the aggregate) and GET <prefix>/{id}/events (its audit trail)."""
    router = APIRouter(prefix=prefix, tags=[f"{kind}s"])
    aggregate_id = Annotated[str, Path(alias=id_name, pattern=ID_PATTERN)]
    reader = Depends(require("read"))
    service = Depends(command_api)

    @router.get(
        f"/{{{id_name}}}",
        response_model=view,
        summary=f"Get a {kind}, rebuilt from its events",
        responses={
            200: {"headers": headers_doc("ETag", "X-Consistency-Token")},
            **problem_docs(401, 403, 404, 422),
        },
        operation_id=f"get_{kind}",
    )
    async def get_one(
        ident: aggregate_id, principal: Principal = reader, api: CommandApi[Any] = service
    ) -> Response:
        return await get_aggregate(api, ident, principal)

    @router.get(
        f"/{{{id_name}}}/events",
        response_model=EventPage,
        summary=f"The {kind}'s events, oldest first (the audit trail), paginated",
        responses=problem_docs(401, 403, 404, 422),
        operation_id=f"get_{kind}_events",
    )
    async def events(
        request: Request,
        ident: aggregate_id,
        from_version: Annotated[int, Query(ge=1, le=MAX_VERSION)] = 1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        principal: Principal = reader,
        api: CommandApi[Any] = service,
    ) -> EventPage:
        return await stream_page(request, api, ident, principal, from_version, limit)

    return router


def command_route(
    router: APIRouter,
    method: str,
    path: str,
    command: type[BaseModel],
    *,
    view: type[BaseModel],
    status: int = 200,
) -> Callable[[F], F]:
    """Register the decorated function as the route of `command`, documented from its class.

    The function is written out by the service: it builds the command from the request and
    runs it with annals.web.commands.run_command on the CommandApi it gets as a dependency.
    """

    def register(endpoint: F) -> F:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            status_code=status,
            response_model=view,
            responses=write_docs(status),
            openapi_extra=WRITE_HEADERS,
            summary=f"{command.__name__}: {_first_line(command.__doc__)}",
            operation_id=_snake(command.__name__),
        )
        return endpoint

    return register


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")
