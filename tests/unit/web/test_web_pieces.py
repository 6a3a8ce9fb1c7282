"""annals.web without I/O: ETags, tokens, problems, idempotency keys, masking, middleware."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from annals.commands.errors import NotFound, RuleBroken
from annals.commands.executor import PreconditionFailed, VersionConflict
from annals.eventstore.blindindex import BlindIndex
from annals.eventstore.ports import STREAM_EXISTS
from annals.web.auth import Principal, TokenVerifier, mint_token
from annals.web.conditional import etag, parse_if_match
from annals.web.idempotency import check_key, request_hashes
from annals.web.masking import MASK, mask
from annals.web.middleware import RequestMiddleware
from annals.web.problems import Problem, install_problem_handlers, to_problem
from annals.web.settings import ServiceSettings

SETTINGS = ServiceSettings(
    service="orders", dsn="postgresql://a@h:1/d", owner_dsn="postgresql://b@h:1/d"
)


def test_etag_and_if_match() -> None:
    assert etag(3) == '"3"'
    assert parse_if_match(None) is None
    assert parse_if_match('"3"') == 3
    assert parse_if_match("3") == 3
    assert parse_if_match("*") is STREAM_EXISTS
    with pytest.raises(Problem) as caught:
        parse_if_match('"3", "4"')
    assert caught.value.status == 400


async def test_tokens_verify_and_carry_scopes() -> None:
    verifier = TokenVerifier(SETTINGS)
    principal = await verifier.verify(mint_token(SETTINGS, ["orders:write", "read"], subject="ann"))
    assert principal == Principal("ann", frozenset({"orders:write", "read"}))
    assert principal.has("read") and not principal.has("read:pii")
    assert Principal("root", frozenset({"admin"})).has("read:pii")


def _valid_claims() -> dict:
    token = mint_token(SETTINGS, ["read"], subject="x")
    return jwt.decode(token, options={"verify_signature": False})


async def test_the_base_of_the_bad_tokens_is_itself_accepted() -> None:
    token = jwt.encode(_valid_claims(), SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    assert (await TokenVerifier(SETTINGS).verify(token)).subject == "x"


@pytest.mark.parametrize(
    "claims, secret",
    [
        ({"exp": int(time.time()) - 100}, None),
        ({}, "another-secret-that-is-long-enough-1234"),
        ({"iss": "someone-else"}, None),
        ({"aud": "other"}, None),
    ],
)
async def test_bad_tokens_are_401(claims: dict, secret: str | None) -> None:
    key = secret or SETTINGS.jwt_secret.get_secret_value()
    token = jwt.encode({**_valid_claims(), **claims}, key, algorithm="HS256")
    with pytest.raises(Problem) as caught:
        await TokenVerifier(SETTINGS).verify(token)
    assert caught.value.status == 401


def test_known_errors_become_problems() -> None:
    broken = to_problem(RuleBroken("order-empty", "needs an item", "lines"))
    assert broken is not None and broken.status == 422 and broken.extra["rule"] == "order-empty"
    assert broken.errors is not None and broken.errors[0].field == "lines"
    assert to_problem(NotFound("order", "x")).status == 404  # type: ignore[union-attr]
    assert to_problem(PreconditionFailed(4)).extra["current_version"] == 4  # type: ignore[union-attr]
    conflict = to_problem(VersionConflict(9))
    assert (
        conflict is not None and conflict.status == 409 and conflict.extra["current_version"] == 9
    )
    assert to_problem(KeyError("bug")) is None


def test_idempotency_fingerprints_and_keys() -> None:
    index = BlindIndex({"k2": b"\x02" * 32, "k1": b"\x01" * 32})

    def request_hash(method: str, path: str, payload: object) -> str:
        return request_hashes(index, method, path, payload)[0]

    a = request_hash("POST", "/orders", {"b": 1, "a": [1, 2]})
    assert a.startswith("k2:")
    assert a == request_hash("POST", "/orders", {"a": [1, 2], "b": 1})
    assert a != request_hash("POST", "/orders", {"a": [2, 1], "b": 1})
    assert a != request_hash("POST", "/orders/x", {"b": 1, "a": [1, 2]})
    assert len(request_hashes(index, "POST", "/orders", {})) == 2
    assert check_key("k-1") == "k-1"
    with pytest.raises(Problem):
        check_key("has space")


def test_masking_follows_read_pii() -> None:
    reader, pii = (
        Principal("r", frozenset({"read"})),
        Principal("p", frozenset({"read", "read:pii"})),
    )
    assert mask("a@b.io", reader) == MASK and mask("a@b.io", pii) == "a@b.io"
    assert mask(None, reader) is None and mask("<forgotten>", reader) == "<forgotten>"


def test_settings_default_to_the_local_stack() -> None:
    settings = ServiceSettings(service="orders")
    assert settings.dsn.startswith("postgresql://orders_app:") and settings.dsn.endswith("/orders")
    assert settings.owner_dsn.startswith("postgresql://orders_owner:")
    assert settings.uses_unsafe_secret and settings.workers >= 1


class Body(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestMiddleware, service="test", max_body_bytes=1024)

    @app.post("/echo")
    async def echo(request: Request, body: Body) -> dict[str, str]:
        return {"text": body.text, "cid": request.headers.get("x-correlation-id", "")}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app


async def test_middleware_correlation_limits_and_problems() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/echo", json={"text": "hi"}, headers={"X-Correlation-ID": "abc-1"})
        assert r.status_code == 200 and r.headers["x-correlation-id"] == "abc-1"
        r = await client.post("/echo", json={"text": "hi"}, headers={"X-Correlation-ID": "bad id!"})
        assert len(r.headers["x-correlation-id"]) == 32
        r = await client.post("/echo", json={"text": "x" * 2000})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

        async def chunks():  # no content-length: the streamed body is counted
            for _ in range(5):
                yield b'{"text": "' + b"x" * 400

        r = await client.post(
            "/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        r = await client.post("/echo", json={"text": 5})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"
        r = await client.post("/echo", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 400
        r = await client.get("/boom", headers={"X-Correlation-ID": "boom-1"})
        assert r.status_code == 500 and r.json()["correlation_id"] == "boom-1"
