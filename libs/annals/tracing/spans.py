"""The platform's own spans: the append, the relay's publish and the projector's apply."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from annals.tracing.context import TRACEPARENT, context_of, current_traceparent, record_traceparent
from annals.tracing.setup import enabled, tracer


@contextlib.contextmanager
def append_span(stream_id: str, metadata: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """A span around an append; yields the metadata to store, carrying the span's traceparent."""
    if not enabled():
        yield metadata
        return
    attributes = {"annals.stream_id": stream_id}
    with tracer().start_as_current_span("eventstore append", attributes=attributes):
        yield {**metadata, TRACEPARENT: current_traceparent()}


def start_publish(topic: str, stream_id: str, version: int, parent: str | None) -> trace.Span:
    """An open producer span of one event's publish, child of the append that stored it."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": "send",
        "annals.stream_id": stream_id,
        "annals.stream_version": version,
    }
    return tracer().start_span(
        f"send {topic}", context=context_of(parent), kind=SpanKind.PRODUCER, attributes=attributes
    )


def start_apply(projection: str, event: Any, parent: str | None) -> trace.Span:
    """An open consumer span of one event's apply by a projection, child of its publish."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": event.topic,
        "messaging.operation.type": "process",
        "messaging.kafka.offset": event.offset,
        "annals.projection": projection,
        "annals.stream_id": event.stream_id or "",
        "annals.stream_version": event.version or 0,
    }
    return tracer().start_span(
        f"apply {projection}", context=context_of(parent), kind=SpanKind.CONSUMER,
        attributes=attributes,
    )  # fmt: skip


def end_all(spans: Sequence[trace.Span], error: BaseException | None = None) -> None:
    """End spans, marked failed with `error` when it is given."""
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()


@contextlib.contextmanager
def apply_spans(projection: str, items: Sequence[Any]) -> Iterator[None]:
    """Consumer spans around a batch's apply, one per traced event (records with a traceparent)."""
    if not enabled():
        yield
        return
    spans = []
    for item in items:
        parent = record_traceparent(getattr(item, "headers", None) or ())
        if parent is not None:
            spans.append(start_apply(projection, item, parent))
    try:
        yield
    except BaseException as exc:
        end_all(spans, exc)
        raise
    end_all(spans)
