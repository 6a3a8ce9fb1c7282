"""Token verification without a server: each defect's own 401 words, keys, lifetimes, settings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from customers.settings import CustomersSettings
from fastapi import FastAPI
from orders.settings import OrdersSettings
from query.settings import QuerySettings
from typer.testing import CliRunner

from annals.cli.main import app as cli
from annals.web.auth import TokenVerifier, mint_token
from annals.web.health import install_docs
from annals.web.health import router as health_router
from annals.web.problems import Problem, install_problem_handlers
from annals.web.settings import UNSAFE_LOCAL_SECRET, ServiceSettings, is_loopback

SECRET = "unit-test-secret-" + "x" * 48
ORDERS = OrdersSettings(jwt_secret=SECRET, dev_mode=False)


def _token(key: Any = SECRET, alg: str = "HS256", headers: dict | None = None, **changes: Any):
    now = int(time.time())
    claims = {"sub": "ann", "scope": "read", "iat": now, "exp": now + 60, "aud": "orders"}
    claims |= {"iss": "annals-local", **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


async def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Problem) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]
    return str(caught.value.detail)


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda now: _token(exp=now - 31), "the token has expired"),
        (
            lambda now: _token(aud="customers"),
            "not for this service (its aud does not name 'orders')",
        ),
        (lambda now: _token(aud=["customers", "query"]), "not for this service"),
        (lambda now: _token(iss="someone"), "issuer is not accepted"),
        (lambda now: _token(key="another-" + "y" * 40), "signature does not verify"),
        (
            lambda now: _token(key=SECRET + "z", alg="HS512"),
            "algorithm is not allowed (only HS256)",
        ),
        (
            lambda now: _token(iat=now, exp=now + 3601),
            "lives longer than this service accepts (at most 3600 s)",
        ),
        (lambda now: _token(iat=now + 120), "not valid yet"),
        (lambda now: _token(exp=None), "lacks the exp claim"),
        (lambda now: _token(iat=None), "lacks the iat claim"),
        (lambda now: _token(sub=None), "lacks the sub claim"),
        (lambda now: _token(aud=None), "lacks the aud claim"),
        (lambda now: _token(key=None, alg="none"), "algorithm is not allowed"),
        (lambda now: "not-a-jwt", "malformed"),
    ],
)
async def test_each_defect_is_named_in_our_words(make: Callable[[int], str], says: str) -> None:
    detail = await _refusal(TokenVerifier(ORDERS), make(int(time.time())))
    assert says in detail
    assert "Signature" not in detail and "Invalid" not in detail  # not PyJWT's words


async def test_leeway_and_shared_audiences_are_accepted() -> None:
    verifier, now = TokenVerifier(ORDERS), int(time.time())
    assert (await verifier.verify(_token(exp=now - 10, iat=now - 70))).subject == "ann"
    both = _token(aud=["orders", "customers"], scope="orders:write read")
    assert (await verifier.verify(both)).has("orders:write")
    customers = CustomersSettings(jwt_secret=SECRET)
    assert (await TokenVerifier(customers).verify(both)).has("read")
    query = QuerySettings(jwt_secret=SECRET)
    await _refusal(TokenVerifier(query), both)
    minted = mint_token(query, ["read"])  # every service by default
    for settings in (ORDERS, customers, query):
        assert (await TokenVerifier(settings).verify(minted)).has("read")
    only_orders = mint_token(ORDERS, ["read"], audience="orders")
    assert "not for this service" in await _refusal(TokenVerifier(customers), only_orders)


def _pem(private: Any) -> str:
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


async def test_a_pem_public_key_verifies_es256(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_text(_pem(private))
    settings = OrdersSettings(jwt_algorithm="ES256", jwt_public_key_file=str(tmp_path / "key.pem"))
    verifier = TokenVerifier(settings)
    assert (await verifier.verify(_token(key=private, alg="ES256"))).subject == "ann"
    other = ec.generate_private_key(ec.SECP256R1())
    assert "signature" in await _refusal(verifier, _token(key=other, alg="ES256"))
    assert "algorithm" in await _refusal(verifier, _token())  # HS256 with any secret
    assert not settings.uses_unsafe_secret and settings.startup_problem() is None


async def test_a_jwks_file_verifies_rs256_by_kid(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    settings = QuerySettings(jwt_algorithm="RS256", jwks_file=str(tmp_path / "jwks.json"))
    verifier = TokenVerifier(settings)
    good = _token(key=private, alg="RS256", aud="query", headers={"kid": "k1"})
    assert (await verifier.verify(good)).subject == "ann"
    unknown = _token(key=private, alg="RS256", aud="query", headers={"kid": "k2"})
    assert "signing key is unknown" in await _refusal(verifier, unknown)


def test_one_setting_serves_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNALS_JWT_SECRET", SECRET)
    monkeypatch.setenv("ANNALS_JWT_MAX_LIFETIME", "600")
    for kind in (OrdersSettings, CustomersSettings, QuerySettings):
        settings = kind()
        assert settings.jwt_secret.get_secret_value() == SECRET
        assert settings.jwt_max_lifetime == 600 and settings.jwt_audience == settings.service
    with pytest.raises(ValueError, match="key source"):
        OrdersSettings(jwt_algorithm="RS256")


def test_the_development_secret_needs_development_mode_on_loopback() -> None:
    assert "development secret" in str(OrdersSettings(dev_mode=False).startup_problem())
    assert OrdersSettings(dev_mode=True).startup_problem() is None
    assert "non-loopback" in str(QuerySettings(dev_mode=True, host="0.0.0.0").startup_problem())
    assert (
        OrdersSettings(dev_mode=False, jwt_secret=SECRET, host="0.0.0.0").startup_problem() is None
    )
    assert OrdersSettings(dev_mode=True).uses_unsafe_secret
    assert OrdersSettings().jwt_secret.get_secret_value() == UNSAFE_LOCAL_SECRET
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.com"))
    with pytest.raises(SystemExit, match="refuses to start"):
        from orders.entrypoints.app import create_app

        create_app(OrdersSettings(dev_mode=False))


class _DownPool:
    async def fetch(self, _: str) -> None:
        raise OSError("connection refused by 10.1.2.3:5432 password=hunter2")


def _ops_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_docs(app)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings)
    app.state.database = _DownPool()
    return app


async def _get(app: FastAPI, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


@pytest.mark.parametrize(
    "access, anonymous, with_read, with_metrics",
    [("open", 200, 200, 200), ("auth", 401, 403, 200), ("off", 404, 404, 404), ("", 401, 403, 200)],
)
async def test_operations_endpoints_follow_their_setting(
    access: str, anonymous: int, with_read: int, with_metrics: int
) -> None:
    settings = OrdersSettings(
        jwt_secret=SECRET, dev_mode=False, metrics_access=access, docs_access=access
    )
    app = _ops_app(settings)
    token = mint_token(settings, ["metrics"])
    for path in ("/metrics", "/openapi.json", "/docs"):
        assert (await _get(app, path)).status_code == anonymous, path
        assert (await _get(app, path, token)).status_code == with_metrics, path
    assert (await _get(app, "/metrics", mint_token(settings, ["read"]))).status_code == with_read
    assert OrdersSettings(dev_mode=True).metrics_mode == "open"


async def test_readyz_does_not_echo_the_database_error() -> None:
    answer = await _get(_ops_app(OrdersSettings(dev_mode=True)), "/readyz")
    assert answer.status_code == 503
    assert answer.json()["detail"] == "the database does not answer"
    assert "10.1.2.3" not in answer.text and "hunter2" not in answer.text


def test_annals_token_names_audiences_and_bounds_the_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["token", "-s", "read"])
    assert done.exit_code == 0, done.output
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert (
        sorted(claims["aud"]) == ["console", "customers", "orders", "query", "registry", "shipping"]
        and claims["exp"] - claims["iat"] == 3600
    )
    monkeypatch.setenv("ANNALS_JWT_SECRET", SECRET)
    monkeypatch.setenv("ANNALS_DEV_MODE", "0")
    assert runner.invoke(cli, ["token", "-s", "read"]).exit_code != 0  # name the audience
    done = runner.invoke(cli, ["token", "-s", "read", "--aud", "customers", "--ttl", "60"])
    assert done.exit_code == 0, done.output
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"], audience="customers")
    assert claims["aud"] == ["customers"] and claims["exp"] - claims["iat"] == 60
    assert runner.invoke(cli, ["token", "-s", "read", "-a", "orders", "--ttl", "7200"]).exit_code
