"""The Confluent Schema Registry REST API over annals.registry.service (JSON Schema only).

Reads need a token holding `read`, registration, deletes and config changes `admin` (tokens of
the platform, audience `registry`). Clients that only speak basic auth (Confluent's
`basic.auth.user.info`) may send the token as the password. Errors carry Confluent's bodies,
`{"error_code": 40401, "message": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from annals.registry import errors as e
from annals.registry.errors import RegistryError
from annals.registry.ports import Version
from annals.registry.service import SCHEMA_TYPE, Registry
from annals.web.auth import Principal, TokenVerifier
from annals.web.problems import Problem

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
UNAUTHORIZED, FORBIDDEN, UNPROCESSABLE = 40101, 40301, 42200


class Answer(JSONResponse):
    """A JSON body with the registry's media type."""

    media_type = MEDIA_TYPE


def _token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            pass
    raise RegistryError(
        UNAUTHORIZED, "a bearer token is required (or basic auth: token as password)"
    )


def needs(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, whose token must hold `scope` (40101, 40301)."""

    async def check(request: Request) -> Principal:
        verifier: TokenVerifier = request.app.state.verifier
        try:
            principal = await verifier.verify(_token(request))
        except Problem as problem:
            raise RegistryError(UNAUTHORIZED, problem.detail or problem.title) from None
        if not principal.has(scope):
            raise RegistryError(FORBIDDEN, f"this operation needs the scope {scope!r}")
        return principal

    return check


Reader = Annotated[Principal, Depends(needs("read"))]
Admin = Annotated[Principal, Depends(needs("admin"))]


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise RegistryError(UNPROCESSABLE, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise RegistryError(UNPROCESSABLE, "the body must be a JSON object")
    return body


async def _schema_of(request: Request) -> tuple[str, str | None]:
    body = await _body(request)
    schema, kind = body.get("schema"), body.get("schemaType")
    if not isinstance(schema, str):
        raise RegistryError(e.INVALID_SCHEMA, "the body needs a `schema` string")
    if body.get("references"):
        raise RegistryError(e.INVALID_SCHEMA, "schema references are not supported")
    return schema, kind if isinstance(kind, str) else None


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _version_body(v: Version) -> dict[str, Any]:
    return {"subject": v.subject, "version": v.version, "id": v.id, "schema": v.schema,
            "schemaType": SCHEMA_TYPE}  # fmt: skip


router = APIRouter(default_response_class=Answer)


@router.get("/")
async def root() -> dict[str, Any]:
    """What Confluent's registry answers at its root."""
    return {}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness (no token)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """Readiness: the storage answers (no token)."""
    await _registry(request).subjects()
    return {"status": "ready"}


@router.get("/schemas/types")
async def types(_: Reader) -> list[str]:
    """The schema types served: JSON only."""
    return [SCHEMA_TYPE]


@router.get("/subjects")
async def subjects(request: Request, _: Reader, deleted: str | None = None) -> list[str]:
    """Every subject."""
    return await _registry(request).subjects(deleted=_flag(deleted))


@router.get("/subjects/{subject}/versions")
async def versions(request: Request, subject: str, _: Reader, deleted: str | None = None) -> Any:
    """A subject's version numbers."""
    return await _registry(request).version_numbers(subject, deleted=_flag(deleted))


@router.get("/subjects/{subject}/versions/{ref}")
async def version(
    request: Request, subject: str, ref: str, _: Reader, deleted: str | None = None
) -> dict[str, Any]:
    """One version of a subject (a number or `latest`)."""
    return _version_body(await _registry(request).version(subject, ref, deleted=_flag(deleted)))


@router.get("/subjects/{subject}/versions/{ref}/schema")
async def version_schema(request: Request, subject: str, ref: str, _: Reader) -> Any:
    """The bare schema of one version."""
    return json.loads((await _registry(request).version(subject, ref)).schema)


@router.post("/subjects/{subject}/versions")
async def register(request: Request, subject: str, _: Admin) -> dict[str, Any]:
    """Register a schema under a subject: its global id (409 when incompatible)."""
    schema, kind = await _schema_of(request)
    return {"id": await _registry(request).register(subject, schema, kind)}


@router.post("/subjects/{subject}")
async def lookup(request: Request, subject: str, _: Reader) -> dict[str, Any]:
    """The version of a subject holding a schema."""
    schema, kind = await _schema_of(request)
    return _version_body(await _registry(request).lookup(subject, schema, kind))


@router.delete("/subjects/{subject}")
async def delete_subject(
    request: Request, subject: str, _: Admin, permanent: str | None = None
) -> list[int]:
    """Soft-delete a subject (permanent=true: remove a soft-deleted one)."""
    return await _registry(request).delete_subject(subject, permanent=_flag(permanent))


@router.delete("/subjects/{subject}/versions/{ref}")
async def delete_version(
    request: Request, subject: str, ref: str, _: Admin, permanent: str | None = None
) -> int:
    """Soft-delete one version (permanent=true: remove a soft-deleted one)."""
    return await _registry(request).delete_version(subject, ref, permanent=_flag(permanent))


@router.get("/schemas/ids/{schema_id}")
async def by_id(request: Request, schema_id: int, _: Reader) -> dict[str, Any]:
    """A schema by global id."""
    return {"schema": await _registry(request).schema(schema_id), "schemaType": SCHEMA_TYPE}


@router.get("/schemas/ids/{schema_id}/schema")
async def bare_by_id(request: Request, schema_id: int, _: Reader) -> Any:
    """The bare schema of a global id (what a record's `dataschema` points at)."""
    return json.loads(await _registry(request).schema(schema_id))


@router.get("/schemas/ids/{schema_id}/versions")
async def id_versions(request: Request, schema_id: int, _: Reader) -> list[dict[str, Any]]:
    """The subject-versions using a global id."""
    uses = await _registry(request).uses(schema_id)
    return [{"subject": v.subject, "version": v.version} for v in uses]


@router.get("/schemas/ids/{schema_id}/subjects")
async def id_subjects(request: Request, schema_id: int, _: Reader) -> list[str]:
    """The subjects using a global id."""
    return sorted({v.subject for v in await _registry(request).uses(schema_id)})


@router.get("/config")
async def global_config(request: Request, _: Reader) -> dict[str, Any]:
    """The global compatibility level."""
    return {"compatibilityLevel": (await _registry(request).level()).value}


@router.put("/config")
async def set_global_config(request: Request, _: Admin) -> dict[str, Any]:
    """Set the global compatibility level."""
    level = (await _body(request)).get("compatibility")
    return {"compatibility": (await _registry(request).set_level(None, level)).value}


@router.get("/config/{subject}")
async def subject_config(
    request: Request, subject: str, _: Reader, defaultToGlobal: str | None = None
) -> dict[str, Any]:
    """A subject's own level (defaultToGlobal=true: else the global one)."""
    level = await _registry(request).level(subject, fallback=_flag(defaultToGlobal))
    return {"compatibilityLevel": level.value}


@router.put("/config/{subject}")
async def set_subject_config(request: Request, subject: str, _: Admin) -> dict[str, Any]:
    """Set a subject's level."""
    level = (await _body(request)).get("compatibility")
    return {"compatibility": (await _registry(request).set_level(subject, level)).value}


@router.delete("/config/{subject}")
async def delete_subject_config(request: Request, subject: str, _: Admin) -> dict[str, Any]:
    """Remove a subject's own level: the level it had."""
    return {"compatibilityLevel": (await _registry(request).clear_level(subject)).value}


async def _compatibility(request: Request, subject: str, ref: str | None) -> dict[str, Any]:
    schema, kind = await _schema_of(request)
    found = await _registry(request).check(subject, schema, ref, kind)
    answer: dict[str, Any] = {"is_compatible": not found}
    if _flag(request.query_params.get("verbose")):
        answer["messages"] = found
    return answer


@router.post("/compatibility/subjects/{subject}/versions/{ref}")
async def compatible_with(request: Request, subject: str, ref: str, _: Reader) -> Any:
    """Whether a schema may follow one version of a subject."""
    return await _compatibility(request, subject, ref)


@router.post("/compatibility/subjects/{subject}/versions")
async def compatible(request: Request, subject: str, _: Reader) -> Any:
    """Whether a schema may follow the subject's versions (at its level)."""
    return await _compatibility(request, subject, None)


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    body = {"error_code": exc.code, "message": exc.message}
    return Answer(body, status_code=exc.status)


def mount(app: FastAPI, registry: Registry, verifier: TokenVerifier) -> None:
    """Serve the registry's routes on app."""
    app.state.registry, app.state.verifier = registry, verifier
    app.add_exception_handler(RegistryError, _refused)
    app.include_router(router)
