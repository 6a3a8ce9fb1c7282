"""The charts read Prometheus's query_range answers and scale them into the SVG box."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from annals.console import prometheus
from annals.stack.settings import StackSettings


def _answer(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v1/query_range" and "query" in request.url.params
    series = [
        {"metric": {"topic": "orders.events"}, "values": [[100, "0"], [130, "2"]]},
        {"metric": {"topic": "customers.events"}, "values": [[100, "1"], [130, "NaN"]]},
    ]
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": "matrix", "result": series}}
    )


def test_every_chart_from_one_prometheus() -> None:
    found = asyncio.run(prometheus.charts("http://prom", httpx.MockTransport(_answer)))
    assert [c.title for c in found] == list(prometheus.CHARTS)
    first = found[0]
    assert first.top == 2.0 and not first.error
    assert first.series[0] == ("topic=orders.events", f"0.0,{prometheus.H:.1f} 600.0,0.0")
    assert first.data["x"] == [100.0, 130.0] and first.data["series"] == [
        {"label": "topic=orders.events", "values": [0.0, 2.0]},
        {"label": "topic=customers.events", "values": [1.0, None]},
    ]  # fmt: skip


def test_the_stack_prometheus_is_the_default(tmp_path: Path) -> None:
    stack = StackSettings(dir=tmp_path, connect_port=18000, prometheus_bin="/bin/true")
    assert prometheus.base_url("", stack) == "http://127.0.0.1:19007"
    assert prometheus.base_url("http://prom:9090", stack) == "http://prom:9090"
    assert prometheus.base_url("", StackSettings(dir=tmp_path, prometheus=False)) == ""


def test_without_prometheus_each_chart_says_why() -> None:
    found = asyncio.run(prometheus.charts(""))
    assert all(c.error.startswith("no Prometheus") for c in found)
    down = asyncio.run(prometheus.charts("http://prom", httpx.MockTransport(
        lambda r: httpx.Response(503))))  # fmt: skip
    assert all(c.error.startswith("Prometheus:") for c in down)


def test_topic_rates_for_the_topology() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        result = [{"metric": {"topic": "orders.events"}, "value": [100, "2.5"]}, {"metric": {},
                  "value": [100, "1"]}]  # fmt: skip
        return httpx.Response(200, json={"status": "success", "data": {"result": result}})

    rates = asyncio.run(prometheus.topic_rates("http://prom", httpx.MockTransport(answer)))
    assert rates == {"orders.events": 2.5}
    down = httpx.MockTransport(lambda r: httpx.Response(503))
    assert asyncio.run(prometheus.topic_rates("http://prom", down)) == {}
    assert asyncio.run(prometheus.topic_rates("")) == {}
