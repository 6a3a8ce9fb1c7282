"""One pure-ASGI middleware per request: correlation id, body-size limit and HTTP metrics."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from annals.web.context import reset_correlation_id, set_correlation_id
from annals.web.problems import PROBLEM_JSON, BodyTooLarge

HEADER = b"x-correlation-id"
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


class RequestMiddleware:
    """Sets the correlation id (echoed in the response), bounds the body, records metrics."""

    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        cid, token = set_correlation_id(_text(headers.get(HEADER)))
        started = time.perf_counter()
        status = 500
        length = _text(headers.get(b"content-length"))
        try:
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


async def _problem(send: Send, cid: str, status: int, title: str, detail: str) -> None:
    slug = "too-large" if status == 413 else "internal"
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
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
