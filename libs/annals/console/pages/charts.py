"""Charts of the last hour: throughput per topic, projection lag, command latency."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from annals.console import prometheus
from annals.console.render import Viewer, page

router = APIRouter()


@router.get("/charts", response_class=HTMLResponse)
async def charts(request: Request, who: Viewer) -> Response:
    """The charts page, read from Prometheus's HTTP API."""
    found = await prometheus.charts(request.app.state.prometheus_url)
    return page(request, "charts.html", "Charts", charts=found, w=prometheus.W, h=prometheus.H)
