"""Charts of the last hour from Prometheus's HTTP API (query_range), drawn as SVG polylines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

CHARTS = {
    "Throughput per topic (events/s)":
        "sum by (topic) (rate(annals_publisher_events_total[1m]))",
    "Projection lag (records)": "max by (projection) (annals_projection_lag_records)",
    "Command latency p95 (s)": "histogram_quantile(0.95, sum by (le, service) "
                               "(rate(annals_http_request_seconds_bucket{method!=\"GET\"}[1m])))",
}  # fmt: skip
W, H = 600, 160


@dataclass
class Chart:
    """One chart: its title, its series as SVG points, the highest value, or why it is empty."""

    title: str
    series: list[tuple[str, str]] = field(default_factory=list)  # (label, "x,y x,y ...")
    top: float = 0.0
    error: str = ""


async def query_range(client: httpx.AsyncClient, base: str, promql: str, minutes: int = 60
                      ) -> list[dict[str, Any]]:  # fmt: skip
    """The matrix Prometheus answers for the last `minutes` (30 s steps)."""
    end = time.time()
    params: dict[str, str | float] = {"query": promql, "start": end - minutes * 60, "end": end,
                                      "step": 30}  # fmt: skip
    answer = await client.get(f"{base.rstrip('/')}/api/v1/query_range", params=params)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def draw(title: str, matrix: list[dict[str, Any]]) -> Chart:
    """Scale every series into a W by H box sharing one time axis and one value axis."""
    chart = Chart(title)
    points = [(float(t), float(v)) for s in matrix for t, v in s["values"] if v not in ("NaN",)]
    if not points:
        chart.error = "no data in the last hour"
        return chart
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    chart.top = max(p[1] for p in points) or 1.0
    for s in matrix:
        label = ",".join(f"{k}={v}" for k, v in s["metric"].items()) or "all"
        line = " ".join(
            f"{(float(t) - t0) / ((t1 - t0) or 1) * W:.1f},{H - float(v) / chart.top * H:.1f}"
            for t, v in s["values"] if v != "NaN"
        )  # fmt: skip
        chart.series.append((label, line))
    return chart


async def charts(base: str, transport: httpx.AsyncBaseTransport | None = None) -> list[Chart]:
    """Every chart, each with its own error when Prometheus is unset or does not answer."""
    if not base:
        return [Chart(t, error="Prometheus not configured (ANNALS_CONSOLE_PROMETHEUS_URL)")
                for t in CHARTS]  # fmt: skip
    out = []
    async with httpx.AsyncClient(timeout=5, transport=transport) as client:
        for title, promql in CHARTS.items():
            try:
                out.append(draw(title, await query_range(client, base, promql)))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                out.append(Chart(title, error=f"Prometheus: {type(exc).__name__}: {exc}"))
    return out
