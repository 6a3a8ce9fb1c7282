"""Request header limits of the shared middleware: 431 problem+json, settings, both protocols."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from query.settings import QuerySettings

from annals.web.middleware import REQUESTS, RequestMiddleware
from annals.web.server import HTTP_PROTOCOL
from annals.web.settings import ServiceSettings


def _app(total: int = 4096, field: int = 1024) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        RequestMiddleware,
        service="limits",
        max_body_bytes=1024,
        max_header_bytes=total,
        max_header_field_bytes=field,
    )

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/ok", headers=headers)


async def test_headers_under_the_limits_pass() -> None:
    answer = await _get({"X-Big": "x" * 900, "X-Other": "y" * 900})
    assert answer.status_code == 200 and answer.json() == {"ok": True}


@pytest.mark.parametrize(
    "headers, says",
    [
        ({"X-Big": "x" * 1100}, "header 'x-big' is larger than 1024 bytes"),
        ({f"X-Part-{i}": "y" * 1000 for i in range(5)}, "larger than 4096 bytes in all"),
    ],
)
async def test_headers_over_a_limit_are_a_431_problem(headers: dict[str, str], says: str) -> None:
    before = REQUESTS.labels("limits", "GET", "unmatched", "431")._value.get()
    answer = await _get({**headers, "X-Correlation-ID": "cid-431"})
    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["connection"] == "close"
    body = answer.json()
    assert body["type"] == "/problems/headers-too-large" and body["status"] == 431
    assert says in body["detail"]
    assert REQUESTS.labels("limits", "GET", "unmatched", "431")._value.get() == before + 1


def test_the_limits_are_settings_with_defaults() -> None:
    dsn = {"dsn": "postgresql://a@h:1/d", "owner_dsn": "postgresql://b@h:1/d"}
    service = ServiceSettings(service="orders", max_header_bytes=32768, **dsn)
    assert service.max_header_bytes == 32768 and service.max_header_field_bytes == 8192
    query = QuerySettings(**dsn)
    assert (query.max_header_bytes, query.max_header_field_bytes) == (16384, 8192)


async def test_over_the_services_http_protocol_the_answer_is_the_same_431() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = uvicorn.Config(_app(), port=port, http=HTTP_PROTOCOL, log_level="error")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(250):  # uvicorn offers no event for "started"
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            huge = await client.get("/ok", headers={"X-Huge": "z" * 200_000})
            fine = await client.get("/ok", headers={"X-Fine": "z" * 500})
        assert huge.status_code == 431 and huge.json()["type"] == "/problems/headers-too-large"
        assert fine.status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 5)
