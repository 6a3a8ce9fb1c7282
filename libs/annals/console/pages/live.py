"""The live log: the global log (every topic) or one topic, streamed as Server-Sent Events."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from annals.console.graph import topology_graph
from annals.console.live import Filter, follow
from annals.console.masking import shown
from annals.console.render import Viewer, page
from annals.topology import describe
from annals.web.auth import Principal

router = APIRouter()
BACKLOG = 20  # records per partition shown from before the page opened
KEEPALIVE_S = 15


def topics() -> list[str]:
    """Every topic of the declared topology: event topics and CDC topics."""
    g = topology_graph(describe())
    return [n.label for n in g.nodes.values() if n.kind == "topic"]


@router.get("/live", response_class=HTMLResponse)
async def live(request: Request, who: Viewer, topic: str = "", type: str = "",
               stream: str = "") -> Response:  # fmt: skip
    """The live log page (its script subscribes to /live/events)."""
    return page(request, "live.html", "Live log", topics=topics(), topic=topic, type=type,
                stream=stream)  # fmt: skip


@router.get("/live/events")
async def events(request: Request, who: Viewer, topic: str = "", type: str = "",
                 stream: str = "") -> Response:  # fmt: skip
    """Server-Sent Events: one `data:` line of JSON per record that passes the filters."""
    chosen = [topic] if topic else topics()
    return StreamingResponse(
        _stream(request, who, chosen, Filter(type.strip(), stream.strip())),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, who: Principal, chosen: list[str], keep: Filter
) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    quiet = 0
    try:
        async with contextlib.aclosing(follow(chosen, BACKLOG, request.is_disconnected)) as items:
            async for item in items:
                if item is None:
                    quiet += 1
                    if quiet >= KEEPALIVE_S:
                        quiet = 0
                        yield ": keep-alive\n\n"
                    continue
                if keep.keeps(item):
                    item["data"] = await shown(item["data"], who, request.app.state.keys)
                    yield f"data: {json.dumps(item, default=str)}\n\n"
    except Exception as exc:  # Kafka away: say so, the browser reconnects after `retry`
        yield f"event: trouble\ndata: {json.dumps(f'{type(exc).__name__}: {exc}')}\n\n"
