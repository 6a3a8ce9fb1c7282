"""Route pieces both services share: id path parameters, write headers, the read routes.

No `from __future__ import annotations` here: FastAPI must see the local Annotated types.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from annals.web.auth import Principal, require
from annals.web.commands import EventPage, get_aggregate, headers_doc, run_command, stream_page
from annals.web.problems import problem_docs

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_VERSION = 2**31 - 1


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
        request: Request, ident: aggregate_id, principal: Principal = reader
    ) -> Response:
        return await get_aggregate(request.app.state.api, ident, principal)

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
    ) -> EventPage:
        api = request.app.state.api
        return await stream_page(request, api, ident, principal, from_version, limit)

    return router


def command_route(
    router: APIRouter,
    method: str,
    path: str,
    command: type[BaseModel],
    *,
    scope: str,
    id_name: str,
    body: bool = True,
    status: int = 200,
    view: type[BaseModel] | None = None,
) -> None:
    """Add a route that runs `command` (the request body, or built empty) on the path's id."""
    principal = Depends(require(scope))
    aggregate_id = Annotated[str, Path(alias=id_name, pattern=ID_PATTERN)]
    endpoint: Callable[..., Awaitable[Response]]

    if f"{{{id_name}}}" not in path:  # creation: the id is in the body or generated

        async def create(request: Request, cmd: command, who: Principal = principal) -> Response:  # type: ignore[valid-type]
            chosen = getattr(cmd, id_name, None) or uuid.uuid4().hex
            return await run_command(
                request, request.app.state.api, who, chosen, cmd, status=status
            )

        endpoint = create
    elif body:

        async def with_body(
            request: Request,
            ident: aggregate_id,
            cmd: command,  # type: ignore[valid-type]
            who: Principal = principal,
        ) -> Response:
            return await run_command(request, request.app.state.api, who, ident, cmd, status=status)

        endpoint = with_body
    else:

        async def without_body(
            request: Request, ident: aggregate_id, who: Principal = principal
        ) -> Response:
            api = request.app.state.api
            return await run_command(request, api, who, ident, command(), status=status)

        endpoint = without_body
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


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")
