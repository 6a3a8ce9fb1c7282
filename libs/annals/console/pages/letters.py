"""Dead letters of every projector group: reason, headers, payload (masked); replay."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from annals.console.masking import shown
from annals.console.render import Operator, Viewer, back, page
from annals.messaging.dlq import dlq_topic, read_dead_letters, read_dlq_headers
from annals.projections.process import pick, registries
from annals.projections.projection import Projection
from annals.projections.repair import replay
from annals.projections.settings import ProjectorSettings
from annals.projections.worker import group_of
from annals.web.auth import Principal
from annals.web.problems import Problem

router = APIRouter()


def _groups() -> dict[str, Projection]:
    settings = ProjectorSettings()
    return {group_of(p, settings): p for p in pick(None)}


async def _letters(group: str, offsets: list[int] | None = None) -> list[Any]:
    return await read_dead_letters(ProjectorSettings().bootstrap, dlq_topic(group), offsets,
                                   timeout=10)  # fmt: skip


async def _shown(letter: Any, who: Principal, request: Request) -> dict[str, Any]:
    headers = read_dlq_headers(list(letter.headers or ()))
    try:
        value: Any = json.loads(letter.value) if letter.value is not None else None
    except ValueError:
        value = letter.value.decode(errors="replace")
    key = letter.key.decode(errors="replace") if letter.key else ""
    value = await shown(value, who, request.app.state.keys)
    return {"offset": letter.offset, "partition": letter.partition, "key": key,
            "headers": headers, "value": value}  # fmt: skip


@router.get("/dead-letters", response_class=HTMLResponse)
async def letters(request: Request, who: Viewer, note: str = "") -> Response:
    """Each projector group's dead letters."""
    groups = []
    for group in _groups():
        try:
            found = [await _shown(r, who, request) for r in await _letters(group)]
            error = ""
        except Exception as exc:
            found, error = [], f"{type(exc).__name__}: {exc}"
        groups.append({"group": group, "topic": dlq_topic(group), "letters": found,
                       "error": error})  # fmt: skip
    return page(request, "letters.html", "Dead letters", groups=groups, note=note)


@router.post("/dead-letters/{group}/replay", response_class=HTMLResponse)
async def replay_letters(
    request: Request, group: str, who: Operator, offset: Annotated[int | None, Form()] = None
) -> Response:
    """Replay one dead letter (offset given) or all of the group, through the normal apply path."""
    projection = _groups().get(group)
    if projection is None:
        raise Problem(404, "Not Found", f"{group} is not a projector group", slug="not-found")
    letters = await _letters(group, None if offset is None else [offset])
    if not letters:
        return back("/dead-letters", f"{group}: nothing to replay")
    result = await replay(projection, ProjectorSettings(), letters, registries=registries(),
                          keys=request.app.state.keys)  # fmt: skip
    note = (f"{group}: {len(result.applied)} applied, {len(result.skipped)} already applied, "
            f"{len(result.failed)} still failing")  # fmt: skip
    return back("/dead-letters", note, group)
