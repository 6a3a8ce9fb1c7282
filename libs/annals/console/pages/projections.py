"""Projections: version, state, lag, parked streams, last error; rebuild, switch, unpark."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from annals.console import platform
from annals.console.jobs import Rebuilds
from annals.console.render import Operator, Viewer, back, page
from annals.projections.process import key_store, pick
from annals.projections.repair import unpark as unpark_stream
from annals.projections.settings import ProjectorSettings
from annals.web.problems import Problem

router = APIRouter()


def _rebuilds(request: Request) -> Rebuilds:
    rebuilds: Rebuilds = request.app.state.rebuilds
    return rebuilds


def _known(name: str) -> None:
    try:
        pick([name])
    except ValueError:
        raise Problem(404, "Not Found", f"no projection {name!r}", slug="not-found") from None


@router.get("/projections", response_class=HTMLResponse)
async def projections(request: Request, who: Viewer, note: str = "") -> Response:
    """Every projection's status, and its rebuild if one was started here."""
    topics = sorted({t for p in pick(None) for t in p.topics})
    rows = await platform.projections(await platform.topic_ends(topics))
    return page(request, "projections.html", "Projections", rows=rows,
                jobs=_rebuilds(request).jobs, note=note)  # fmt: skip


@router.get("/projections/{name}/rebuild", response_class=HTMLResponse)
async def progress(request: Request, name: str, who: Viewer) -> Response:
    """The rebuild's progress bar (htmx polls it)."""
    _known(name)
    job = _rebuilds(request).jobs.get(name)
    return page(request, "rebuild.html", name, pname=name, job=job)


@router.post("/projections/{name}/rebuild", response_class=HTMLResponse)
async def rebuild(request: Request, name: str, who: Operator) -> Response:
    """Start a rebuild beside the live version."""
    _known(name)
    _rebuilds(request).start(name, request.app.state.keys)
    return RedirectResponse(f"/projections#{name}", status_code=303)


@router.post("/projections/{name}/switch", response_class=HTMLResponse)
async def switch(request: Request, name: str, who: Operator) -> Response:
    """Make the rebuilt version live."""
    _known(name)
    try:
        job = await _rebuilds(request).switch(name)
    except LookupError as exc:
        raise Problem(409, "Conflict", str(exc), slug="no-rebuild") from None
    note = f"{name}: v{job.version} is live"
    return back("/projections", note, name)


@router.post("/projections/{name}/unpark", response_class=HTMLResponse)
async def unpark(
    request: Request, name: str, who: Operator, stream: Annotated[str, Form()]
) -> Response:
    """Skip a parked stream's missing versions and apply its parked ones."""
    _known(name)
    [projection] = pick([name])
    settings = ProjectorSettings()
    async with key_store(settings) as keys:
        result = await unpark_stream(projection, settings, stream.strip(), keys)
    note = (f"{stream}: {result.gaps_skipped} missing skipped, {result.applied} applied"
            if result.parked else f"{stream} is not parked in {name}")  # fmt: skip
    return back("/projections", note, name)
