"""Publishers and connectors: leader, checkpoint, unpublished; tasks, slot lag, retained WAL."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from annals.connect.errors import ConnectError
from annals.console import platform
from annals.console.render import Operator, Viewer, back, page
from annals.web.problems import Problem

router = APIRouter()


@router.get("/publishers", response_class=HTMLResponse)
async def publishers(request: Request, who: Viewer, note: str = "") -> Response:
    """Each service's publisher and each connector with its tasks and slot."""
    pubs, connectors = await asyncio.gather(
        platform.publishers(), asyncio.to_thread(platform.connectors)
    )
    return page(request, "publishers.html", "Publishers and connectors", publishers=pubs,
                connectors=connectors, mib=platform.MIB, note=note)  # fmt: skip


@router.post("/connectors/{name}/restart", response_class=HTMLResponse)
async def restart(request: Request, name: str, who: Operator) -> Response:
    """Restart a connector's failed tasks (after fixing their cause)."""
    try:
        await asyncio.to_thread(platform.restart_failed, name)
    except ConnectError as exc:
        raise Problem(502, "Bad Gateway", str(exc), slug="connect") from None
    return back("/publishers", f"{name}: restart of failed tasks requested", name)
