"""The front page: the declared topology, each node coloured by health with its figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from annals.console import graph, health
from annals.console.render import Viewer, page
from annals.topology import describe

router = APIRouter()


async def _graph(request: Request) -> graph.Graph:
    described = describe()
    g = graph.topology_graph(described)
    topics = [n.label for n in g.nodes.values() if n.kind == "topic"]
    rates = getattr(request.app.state, "topic_rates", None)
    snap = await health.snapshot(topics, rates() if rates else None)
    health.colour(g, snap)
    return g


def _context(g: graph.Graph) -> dict[str, Any]:
    width, height = graph.size(g)
    paths = [graph.path(g, e) for e in g.edges]
    return {"g": g, "width": width, "height": height, "paths": paths, "columns": graph.COLUMNS,
            "node_w": graph.NODE_W, "node_h": graph.NODE_H}  # fmt: skip


@router.get("/", response_class=HTMLResponse)
async def topology(request: Request, who: Viewer) -> Response:
    """The topology page."""
    return page(request, "topology.html", "Topology", **_context(await _graph(request)))


@router.get("/topology/picture", response_class=HTMLResponse)
async def picture(request: Request, who: Viewer) -> Response:
    """The picture alone (htmx refreshes it)."""
    return page(request, "topology_picture.html", "Topology", **_context(await _graph(request)))
