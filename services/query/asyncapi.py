"""GET /asyncapi.json: the AsyncAPI 3.0 document of every topic the read models come from."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Depends

from annals.schemas.asyncapi import document
from annals.web.auth import Principal, require
from annals.web.problems import problem_docs

router = APIRouter(tags=["events"])


@functools.cache
def _document() -> dict[str, Any]:
    return document()


@router.get(
    "/asyncapi.json",
    summary="The AsyncAPI 3.0 document of the platform's topics",
    responses=problem_docs(401, 403),
)
async def asyncapi(_: Principal = Depends(require("read"))) -> dict[str, Any]:
    """Channels (topics), their keys, CloudEvents envelopes and payload schemas per type and
    version (docs/rules.md#ordering)."""
    return _document()
