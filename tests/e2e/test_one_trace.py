"""One command is one trace: HTTP request -> append -> relay's publish -> projector's apply,
and the query that reads the result, all under one trace id (in-memory span exporter)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from annals.projections.process import registries
from annals.projections.worker import Worker
from annals.topology import topology
from annals.tracing import current_traceparent, install, tracer, uninstall
from annals.web.auth import mint_token
from tests.e2e.test_command_to_query import apps, serve
from tests.integration.projections.helpers import running
from tests.integration.projections.rig import Rig

pytestmark = pytest.mark.stack
_EXPORTER = InMemorySpanExporter()
_PROVIDER: list[TracerProvider] = []


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, every finished span kept in memory; off again afterwards."""
    if not _PROVIDER:  # a process has one tracer provider
        _PROVIDER.append(TracerProvider())
        _PROVIDER[0].add_span_processor(SimpleSpanProcessor(_EXPORTER))
    install(_PROVIDER[0])
    _EXPORTER.clear()
    try:
        yield _EXPORTER
    finally:
        uninstall()


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """Names of the span and its ancestors, nearest first."""
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_a_command_and_the_read_of_its_result_are_one_trace(
    rig: Rig, spans: InMemorySpanExporter
) -> None:
    orders_app, _, query_app, settings = apps(rig)
    token = mint_token(settings, ["orders:write", "read"])
    async with (
        serve(orders_app, "http://orders") as orders,
        serve(query_app, "http://query") as query,
        rig.relay("orders"),
    ):
        worker = Worker(topology().projections["order_summary"], rig.settings(),
                        registries=registries())  # fmt: skip
        async with running(worker):
            with tracer().start_as_current_span("user places an order") as root:
                auth = {"Authorization": f"Bearer {token}", "traceparent": current_traceparent()}
                body = {"order_id": "t1", "customer_id": "ada", "currency": "EUR"}
                placed = await orders.post("/orders", json=body, headers=auth)
                assert placed.status_code == 201, placed.text
                consistency = {**auth, "X-Consistency-Token": placed.headers["x-consistency-token"]}
                read = await query.get("/orders/t1", headers=consistency)
                assert read.status_code == 200 and read.headers["x-consistency"] == "satisfied"
    trace_id = root.get_span_context().trace_id
    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}
    applies = [s for s in mine if s.name == "apply order_summary"]
    assert applies, sorted({s.name for s in spans.get_finished_spans()})
    chain = _chain(applies[0], by_id)
    assert chain[:3] == ["apply order_summary", f"send {rig.topic('orders.events')}",
                         "eventstore append"]  # fmt: skip
    assert chain[-1] == "user places an order" and "POST /orders" in chain
    kinds = {s.name: s.kind for s in mine}
    assert kinds["apply order_summary"] == trace.SpanKind.CONSUMER
    assert kinds[f"send {rig.topic('orders.events')}"] == trace.SpanKind.PRODUCER
    assert any(s.name == "GET /orders/{order_id}" for s in mine), sorted(by_id_names(mine))


def by_id_names(spans: list[ReadableSpan]) -> set[str]:
    """The names of spans (for failure messages)."""
    return {s.name for s in spans}
