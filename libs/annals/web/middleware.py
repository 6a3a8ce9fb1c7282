"""One pure-ASGI middleware per request: correlation id, header and body limits, HTTP metrics.

Header limits are checked here because uvicorn's httptools protocol (the services' and the
query API's) enforces none, and h11 only bounds a head that has not fully arrived: without them,
one request with megabytes of headers is parsed, copied and handled in full. The defaults
(16 KiB in all, 8 KiB per header) are the settings `max_header_bytes`/`max_header_field_bytes`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from annals.tracing.http import name_server_span
from annals.web.context import reset_correlation_id, set_correlation_id
from annals.web.problems import PROBLEM_JSON, BodyTooLarge
from annals.web.settings import ServiceSettings

HEADER = b"x-correlation-id"
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELD_BYTES = 8 * 1024
log = structlog.get_logger("annals.web")
REQUESTS = Counter(
    "annals_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "annals_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def add_request_middleware(app: Starlette, settings: ServiceSettings) -> None:
    """RequestMiddleware on app, its metrics labelled `settings.service`, its limits set."""
    app.add_middleware(
        RequestMiddleware,
        service=settings.service,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_header_field_bytes=settings.max_header_field_bytes,
    )


class RequestMiddleware:
    """Sets the correlation id (echoed in the response), bounds headers and body, records
    metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_header_field_bytes: int = MAX_HEADER_FIELD_BYTES,
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.max_header_field_bytes = max_header_field_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        oversized = self._oversized(scope["headers"])
        headers = {} if oversized else dict(scope["headers"])
        cid, token = set_correlation_id(_text(headers.get(HEADER)))
        started = time.perf_counter()
        status = 500
        length = _text(headers.get(b"content-length"))
        try:
            if oversized is not None:
                status = 431
                await _problem(send, cid, 431, "Request header fields too large", oversized)
                return
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                status = 413
                await _too_large(send, cid, self.max_body_bytes)
                return

            over = [False]

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if over[0]:  # the body outgrew the limit while streaming: answer 413 instead
                    if message["type"] == "http.response.start":
                        status = 413
                        await _too_large(send, cid, self.max_body_bytes)
                    return
                if message["type"] == "http.response.start":
                    status = message["status"]
                    # The server span ends with the body: name it after the route now.
                    name_server_span(scope["method"], getattr(scope.get("route"), "path", "?"))
                    message["headers"] = [*message.get("headers", ()), (HEADER, cid.encode())]
                await send(message)

            try:
                await self.app(scope, self._bounded(receive, over), send_with_id)
            except Exception as exc:  # a bug: log it with the correlation id, answer problem+json
                log.error("unhandled error", path=scope["path"], exc_info=exc)
                if status != 500:  # the response had started: nothing more can be sent
                    raise
                await _problem(send, cid, 500, "Internal error", "an unexpected error was logged")
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(self.service, method, path, str(status)).inc()
            LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)
            reset_correlation_id(token)

    def _oversized(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """Why the request's headers are over the limits (None: they are not)."""
        total = 0
        for name, value in headers:
            size = len(name) + len(value)
            if size > self.max_header_field_bytes:
                shown = name[:64].decode("latin-1")
                return f"header {shown!r} is larger than {self.max_header_field_bytes} bytes"
            total += size
        if total > self.max_header_bytes:
            return f"the request headers are larger than {self.max_header_bytes} bytes in all"
        return None

    def _bounded(self, receive: Receive, over: list[bool]) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over[0] = True
                    raise BodyTooLarge(f"the body is larger than {limit} bytes")
            return message

        return bounded


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def _too_large(send: Send, cid: str, limit: int) -> None:
    await _problem(send, cid, 413, "Content too large", f"the body is larger than {limit} bytes")


SLUGS = {413: "too-large", 431: "headers-too-large"}


async def _problem(send: Send, cid: str, status: int, title: str, detail: str) -> None:
    slug = SLUGS.get(status, "internal")
    body = json.dumps(
        {
            "type": f"/problems/{slug}",
            "title": title,
            "status": status,
            "detail": detail,
            "correlation_id": cid,
        }
    ).encode()
    headers: list[Any] = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (HEADER, cid.encode()),
    ]
    if status in SLUGS:  # the rest of the request is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
