"""RFC 9457 problem+json: the error model, exception handlers and OpenAPI response docs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from annals.commands.errors import DomainError
from annals.commands.executor import PreconditionFailed, VersionConflict
from annals.eventstore.availability import is_outage, reason
from annals.eventstore.errors import EventTooLarge, InvalidEvent, StreamDeleted, SubjectForgotten
from annals.web.context import correlation_id

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("annals.web")


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str
    type: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document with Annals' extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    correlation_id: str | None = None
    rule: str | None = None
    current_version: int | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = extra


class BodyTooLarge(Exception):
    """The request body is over the service's limit."""


def problem_response(request: Request, problem: Problem) -> Response:
    """The HTTP response of a problem."""
    body = ProblemDetails(
        type=f"/problems/{problem.slug}" if problem.slug else "about:blank",
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        correlation_id=correlation_id(),
        errors=problem.errors,
        **problem.extra,
    )
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def _field_errors(errors: Sequence[Any]) -> list[FieldError]:
    out = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        if error["type"] == "json_invalid":
            loc = []
        out.append(
            FieldError(
                field=".".join(loc) or "body", message=str(error.get("msg")), type=error["type"]
            )
        )
    return out


def to_problem(exc: Exception) -> Problem | None:
    """The problem a known exception stands for (None: a bug)."""
    match exc:
        case Problem():
            return exc
        case DomainError():
            errors = (
                [FieldError(field=exc.field, message=exc.detail, type=exc.rule)]
                if exc.field
                else None
            )
            title = {404: "Not found", 409: "Conflict"}.get(exc.status, "Rule broken")
            return Problem(
                exc.status, title, exc.detail, slug=exc.rule, rule=exc.rule, errors=errors
            )
        case PreconditionFailed():
            detail = f"If-Match did not match: the current version is {exc.current_version}"
            return Problem(
                412,
                "Precondition failed",
                detail,
                slug="precondition-failed",
                current_version=exc.current_version,
            )
        case VersionConflict():
            return Problem(
                409,
                "Version conflict",
                str(exc),
                slug="version-conflict",
                current_version=exc.current_version,
            )
        case BodyTooLarge() | EventTooLarge():
            return Problem(413, "Content too large", str(exc) or None, slug="too-large")
        case SubjectForgotten():
            return Problem(
                422, "Rule broken", str(exc), slug="subject-forgotten", rule="subject-forgotten"
            )
        case StreamDeleted():
            return Problem(404, "Not found", str(exc), slug="stream-deleted")
        case InvalidEvent():
            return Problem(422, "Invalid command", str(exc), slug="invalid-event")
        case asyncpg.QueryCanceledError():  # statement_timeout: the database is overloaded
            return unavailable("the database did not answer in time")
        case _ if is_outage(exc):
            return unavailable(f"the database is unreachable ({reason(exc)})")
    return None


RETRY_AFTER = "2"


def unavailable(detail: str) -> Problem:
    """503 while the database is away: the client should retry after Retry-After seconds."""
    return Problem(
        503,
        "Service unavailable",
        detail,
        slug="database-unavailable",
        headers={"Retry-After": RETRY_AFTER},
    )


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    errors = _field_errors(raw)
    if any(e.type == "json_invalid" for e in errors):
        problem = Problem(
            400, "Malformed request", "the body is not valid JSON", slug="malformed", errors=errors
        )
        return problem_response(request, problem)
    if any(e.get("loc", ("",))[0] == "header" for e in raw):
        problem = Problem(
            400,
            "Malformed header",
            "a request header is malformed",
            slug="malformed",
            errors=errors,
        )
        return problem_response(request, problem)
    return problem_response(
        request,
        Problem(
            422, "Invalid command", "the request does not validate", slug="invalid", errors=errors
        ),
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    problem = Problem(
        exc.status_code,
        _title(exc.status_code),
        exc.detail if isinstance(exc.detail, str) else None,
        headers=exc.headers,
    )
    return problem_response(request, problem)


async def _known(request: Request, exc: Exception) -> Response:
    problem = to_problem(exc)
    if problem is None:
        return await _unexpected(request, exc)
    return problem_response(request, problem)


async def _database(request: Request, exc: Exception) -> Response:
    """Outages answer 503 and are logged once per outage (by the pool's Availability)."""
    problem = to_problem(exc)
    if problem is None:
        return await _unexpected(request, exc)
    availability = getattr(request.app.state, "availability", None)
    if availability is not None and is_outage(exc):
        availability.failed(exc)
    return problem_response(request, problem)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", path=request.url.path, method=request.method, exc_info=exc)
    return problem_response(
        request, Problem(500, "Internal error", "an unexpected error was logged", slug="internal")
    )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with problem+json (validation, HTTP, domain, store, unknown)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    for cls in (
        Problem,
        DomainError,
        PreconditionFailed,
        VersionConflict,
        BodyTooLarge,
        InvalidEvent,
        SubjectForgotten,
        StreamDeleted,
    ):
        app.add_exception_handler(cls, _known)
    # The database's errors: outages are 503, the rest (bugs) fall through to a logged 500.
    for driver in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(driver, _database)
    app.add_exception_handler(Exception, _unexpected)


def _doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            PROBLEM_JSON: {
                "schema": ProblemDetails.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
            }
        },
    }


def problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem statuses."""
    text = {
        400: "Malformed request (body is not JSON, bad header)",
        401: "Missing, invalid or expired bearer token",
        403: "The token lacks the scope this operation needs",
        404: "Unknown aggregate",
        409: "Version conflict (the body says the current version) or the aggregate exists",
        412: "If-Match does not match the current version",
        410: "The Idempotency-Key's response was wiped by Forget (the command is not run again)",
        413: "Request body too large",
        422: "Invalid command or a business rule was broken",
        503: "The database is unavailable",
    }
    return {status: _doc(text[status]) for status in statuses}
