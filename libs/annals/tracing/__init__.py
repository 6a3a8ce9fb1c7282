"""Traces across the platform (OpenTelemetry): one command is one trace.

Off by default. `configure()` turns tracing on in a process when the settings name an OTLP
collector (ANNALS_TRACES_OTLP_ENDPOINT) or a file (ANNALS_TRACES_FILE, what `annals --traces`
sets: .stack/logs/traces.jsonl). The trace context travels as a W3C `traceparent`: HTTP header
into the services and the query API, event metadata from the append to the relay, the
CloudEvents distributed-tracing attribute and a Kafka header from the relay to the projectors
(docs/tracing.md).
"""

from annals.tracing.context import (
    TRACEPARENT,
    context_of,
    current_traceparent,
    record_traceparent,
    traceparent_of,
)
from annals.tracing.setup import TraceSettings, configure, enabled, install, tracer, uninstall

__all__ = [
    "TRACEPARENT",
    "TraceSettings",
    "configure",
    "context_of",
    "current_traceparent",
    "enabled",
    "install",
    "record_traceparent",
    "traceparent_of",
    "tracer",
    "uninstall",
]
