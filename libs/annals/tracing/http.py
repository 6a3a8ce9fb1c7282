"""HTTP server spans of the services, the query API and the console (ASGI middleware)."""

from __future__ import annotations

from typing import Any

from annals.tracing.setup import configure, enabled

# Probes and scrapes would fill a trace store with spans nobody follows.
UNTRACED = "healthz,readyz,metrics"


def instrument(app: Any, component: str) -> bool:
    """Give `app` a server span per request (child of the caller's traceparent) if tracing."""
    configure(component)
    if not enabled():
        return False
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(
        OpenTelemetryMiddleware, excluded_urls=UNTRACED, exclude_spans=["receive", "send"]
    )
    return True


def name_server_span(method: str, route: str) -> None:
    """Name the request's server span after its route template (`GET /orders/{order_id}`)."""
    if enabled():
        from opentelemetry import trace

        trace.get_current_span().update_name(f"{method} {route}")
