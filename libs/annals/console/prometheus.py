"""Charts of the last hour from Prometheus's HTTP API (query_range).

Each chart carries its series twice: as SVG polylines (the page without JavaScript) and as the
aligned columns uPlot draws (static/charts.js, uPlot from npm), one time axis for every series.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from annals.stack import prometheus as stack_prometheus
from annals.stack.settings import StackSettings

# Events/s per topic: a publisher is named after its topic unless renamed.
TOPIC_RATES = ("sum by (topic) (label_replace(rate(annals_publisher_events_total[1m]), "
               "\"topic\", \"$1\", \"publisher\", \"(.*)\"))")  # fmt: skip
CHARTS = {
    "Throughput per topic (events/s)": TOPIC_RATES,
    "Projection lag (records)": "sum by (projection) (annals_projection_lag_records)",
    "Command latency p95 (s)": "histogram_quantile(0.95, sum by (le, service) "
                               "(rate(annals_http_request_seconds_bucket{method!=\"GET\"}[1m])))",
}  # fmt: skip
W, H = 600, 160
MINUTES, STEP_S = 60, 15


@dataclass
class Chart:
    """One chart: its title, its series as SVG points, the highest value, or why it is empty."""

    title: str
    series: list[tuple[str, str]] = field(default_factory=list)  # (label, "x,y x,y ...")
    top: float = 0.0
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # {"x": [...], "series": [...]}


async def query_range(client: httpx.AsyncClient, base: str, promql: str, minutes: int = 60,
                      end: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The matrix Prometheus answers for the `minutes` before `end` (now), in 15 s steps."""
    end = time.time() if end is None else end
    params: dict[str, str | float] = {"query": promql, "start": end - minutes * 60, "end": end,
                                      "step": STEP_S}  # fmt: skip
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
    chart.data = aligned(matrix)
    return chart


def aligned(matrix: list[dict[str, Any]]) -> dict[str, Any]:
    """Every series on one sorted time axis, None where a series has no sample (uPlot's form)."""
    xs = sorted({float(t) for s in matrix for t, _ in s["values"]})
    at = {x: i for i, x in enumerate(xs)}
    series = []
    for s in matrix:
        values: list[float | None] = [None] * len(xs)
        for t, v in s["values"]:
            values[at[float(t)]] = None if v == "NaN" else float(v)
        label = ",".join(f"{k}={v}" for k, v in s["metric"].items()) or "all"
        series.append({"label": label, "values": values})
    return {"x": xs, "series": series}


def base_url(configured: str, stack: StackSettings | None = None) -> str:
    """The Prometheus to read: the configured one, else the native stack's where it runs one."""
    if configured:
        return configured
    stack = stack or StackSettings()
    return stack_prometheus.url(stack) if stack_prometheus.enabled(stack) else ""


async def charts(base: str, transport: httpx.AsyncBaseTransport | None = None) -> list[Chart]:
    """Every chart, each with its own error when Prometheus is unset or does not answer."""
    if not base:
        return [Chart(t, error="no Prometheus (ANNALS_CONSOLE_PROMETHEUS_URL, or the stack's)")
                for t in CHARTS]  # fmt: skip
    out = []
    end = time.time()
    async with httpx.AsyncClient(timeout=5, transport=transport) as client:
        for title, promql in CHARTS.items():
            try:
                chart = draw(title, await query_range(client, base, promql, MINUTES, end))
                chart.data["range"] = [end - MINUTES * 60, end]  # the whole hour on the x axis
                out.append(chart)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                out.append(Chart(title, error=f"Prometheus: {type(exc).__name__}: {exc}"))
    return out


async def topic_rates(base: str, transport: httpx.AsyncBaseTransport | None = None
                      ) -> dict[str, float]:  # fmt: skip
    """Events/s per topic now (the topology's figures); empty when Prometheus cannot say."""
    if not base:
        return {}
    try:
        async with httpx.AsyncClient(timeout=3, transport=transport) as client:
            answer = await client.get(f"{base.rstrip('/')}/api/v1/query",
                                      params={"query": TOPIC_RATES})  # fmt: skip
            answer.raise_for_status()
            result = answer.json()["data"]["result"]
        return {
            r["metric"]["topic"]: float(r["value"][1]) for r in result if "topic" in r["metric"]
        }
    except (httpx.HTTPError, KeyError, ValueError, IndexError):
        return {}
