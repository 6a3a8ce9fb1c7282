"""Turning tracing on in a process: the tracer provider and where its spans go."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPE = "annals"
_state: dict[str, bool] = {"on": False}


class TraceSettings(BaseSettings):
    """Where spans go (env prefix ANNALS_TRACES_); neither set: tracing stays off."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_TRACES_", extra="ignore")

    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL of a collector, e.g. http://otel:4318/v1/traces",
    )
    file: Path | None = Field(default=None, description="JSON lines of finished spans")
    flush_seconds: float = Field(default=1.0, description="how often finished spans are written")


def enabled() -> bool:
    """True when this process records spans (configure() or install() turned tracing on)."""
    return _state["on"]


def tracer() -> trace.Tracer:
    """The platform's tracer (a no-op one while tracing is off)."""
    return trace.get_tracer(SCOPE)


def configure(component: str, settings: TraceSettings | None = None) -> bool:
    """Turn tracing on when the settings name a collector or file; True when it is on."""
    if enabled():
        return True
    settings = settings or TraceSettings()
    exporters = _exporters(settings)
    if not exporters:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": component}))
    delay = int(settings.flush_seconds * 1000)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    install(provider)
    return True


def install(provider: TracerProvider) -> None:
    """Make `provider` the process's tracer provider and turn tracing on (tests use this)."""
    trace.set_tracer_provider(provider)
    _state["on"] = True


def uninstall() -> None:
    """Turn span recording by the platform's code off again (the provider stays set)."""
    _state["on"] = False


def _exporters(settings: TraceSettings) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
    if settings.file is not None:
        exporters.append(file_exporter(settings.file))
    return exporters


def file_exporter(path: Path) -> SpanExporter:
    """Spans as one JSON object a line, appended to `path` (several processes may share it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out: IO[str] = open(path, "a", buffering=1)  # noqa: SIM115 - closed with the process
    return ConsoleSpanExporter(out=out, formatter=_line)


def _line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"
