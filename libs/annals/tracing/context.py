"""The W3C trace context as one `traceparent` string: taken from a span, turned into a parent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_W3C = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The traceparent of the current span (None when no span is recording)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


def traceparent_of(span: trace.Span) -> str | None:
    """The traceparent naming `span` as the parent of what follows it."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def context_of(traceparent: str | None) -> Context | None:
    """A context whose parent is the span `traceparent` names (None when there is none)."""
    if not traceparent:
        return None
    return _W3C.extract({TRACEPARENT: traceparent})


def record_traceparent(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The traceparent of a Kafka record: its `traceparent` header, else `ce_traceparent`."""
    found: Mapping[str, Any] = {name: value for name, value in headers if "traceparent" in name}
    raw = found.get(TRACEPARENT) or found.get("ce_" + TRACEPARENT)
    if not isinstance(raw, bytes):
        return None
    return raw.decode(errors="replace")
