"""Tokens on real service processes (orders, customers, the query API), outside development mode.

The development secret without ANNALS_DEV_MODE, or development mode on a non-loopback address,
stops a process before it serves. Against processes that run with a real secret, every bad token
of the table is refused (401, or 403 for a missing scope) in our own words, and nothing is
appended to the event stores.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings
from annals.web.settings import UNSAFE_LOCAL_SECRET
from tests.support.live_services import (
    LiveService,
    free_port,
    install_order_summary,
    service_env,
)

pytestmark = pytest.mark.stack
SECRET = secrets.token_urlsafe(48)  # 64 characters: long enough for HS512 too
PRODUCTION = {"ANNALS_DEV_MODE": "0", "ANNALS_JWT_SECRET": SECRET}
ISSUER = "annals-local"


@pytest.fixture(scope="module")
def readmodels_db(stack: StackSettings) -> Iterator[str]:
    """A scratch readmodels database with the (empty) order_summary table."""
    name = asyncio.run(create_database(stack, "readmodels_test", "readmodels_owner", ["query_app"]))
    asyncio.run(install_order_summary(stack, name))
    try:
        yield name
    finally:
        asyncio.run(drop_database(stack, name))


@pytest.fixture(scope="module")
def databases(orders_db: str, customers_db: str, readmodels_db: str) -> dict[str, str]:
    """Each service's scratch database."""
    return {"orders": orders_db, "customers": customers_db, "query": readmodels_db}


def _service(
    name: str, stack: StackSettings, database: str, log_dir: Path, **env: str
) -> LiveService:
    port = free_port()
    settings_env = service_env(name, stack, database, port, LOG_JSON="false")
    return LiveService(name, port, log_dir / f"{name}-{port}.log", {**settings_env, **env})


@pytest.fixture(scope="module")
def live(
    stack: StackSettings, databases: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, LiveService]]:
    """orders, customers and query processes with a real secret, not in development mode."""
    log_dir = tmp_path_factory.mktemp("tokens")
    services = {n: _service(n, stack, db, log_dir, **PRODUCTION) for n, db in databases.items()}
    try:
        for service in services.values():
            service.start()
        yield services
    finally:
        for service in services.values():
            service.stop()


@pytest.mark.parametrize("name", ["orders", "customers", "query"])
@pytest.mark.parametrize(
    "env, says",
    [
        ({"ANNALS_DEV_MODE": "0", "ANNALS_JWT_SECRET": UNSAFE_LOCAL_SECRET}, "development secret"),
        ({"ANNALS_DEV_MODE": "1", "HOST": "0.0.0.0"}, "non-loopback address 0.0.0.0"),
    ],
    ids=["dev-secret-outside-dev-mode", "dev-mode-off-loopback"],
)
def test_unsafe_settings_refuse_to_start(
    name: str,
    env: dict[str, str],
    says: str,
    stack: StackSettings,
    databases: dict[str, str],
    tmp_path: Path,
) -> None:
    prefixed = {(f"ANNALS_{name.upper()}_{k}" if k == "HOST" else k): v for k, v in env.items()}
    service = _service(name, stack, databases[name], tmp_path, **prefixed)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            service.start(wait=30)
        assert service.process is not None and service.process.returncode not in (0, None)
        assert f"{name} refuses to start" in service.output() and says in service.output()
    finally:
        service.stop()


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(aud: Any, scope: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "tester", "scope": scope, "iat": now, "exp": now + 300, "aud": aud}
    claims |= {"iss": ISSUER, "jti": uuid.uuid4().hex}
    claims |= {k: v(now) if callable(v) else v for k, v in (changes or {}).items()}
    return {k: v for k, v in claims.items() if v is not None}


def _alg_none(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
Mint = Callable[[str, str], str]  # (audience, scope) -> token


def _mint(secret: str = SECRET, alg: str = "HS256", **changes: Any) -> Mint:
    def mint(aud: str, scope: str) -> str:
        key: Any = _RSA if alg.startswith("RS") else secret
        return jwt.encode(_claims(aud, scope, changes), key, algorithm=alg)

    return mint


OTHER_AUDIENCE = {"orders": ["customers", "query"], "customers": ["orders"], "query": "orders"}


def _wrong_audience(aud: str, scope: str) -> str:
    return _mint()(OTHER_AUDIENCE[aud], scope)  # type: ignore[arg-type]


# (case, token maker, status, what the detail says)
TABLE: list[tuple[str, Callable[[str, str], str], int, str]] = [
    ("wrong-audience", _wrong_audience, 401, "not for this service"),
    ("expired", _mint(iat=lambda t: t - 400, exp=lambda t: t - 100), 401, "expired"),
    ("over-long-lifetime", _mint(exp=lambda t: t + 2 * 3600), 401, "lives longer"),
    ("alg-none", lambda aud, s: _alg_none(_claims(aud, s)), 401, "algorithm is not allowed"),
    ("another-hmac-algorithm", _mint(alg="HS512"), 401, "algorithm is not allowed"),
    ("rsa-algorithm", _mint(alg="RS256"), 401, "algorithm is not allowed"),
    ("bad-signature", _mint(secret=secrets.token_urlsafe(40)), 401, "signature does not verify"),
    ("dev-secret", _mint(secret=UNSAFE_LOCAL_SECRET), 401, "signature does not verify"),
    ("missing-exp", _mint(exp=None), 401, "lacks the exp claim"),
    ("missing-aud", _mint(aud=None), 401, "lacks the aud claim"),
    ("missing-scope", _mint(), 403, "needs the scope"),
]
WRONG_SCOPE = {"orders": "read", "customers": "orders:write read", "query": "metrics"}
RIGHT_SCOPE = {"orders": "orders:write", "customers": "customers:write", "query": "read"}


@dataclass
class Call:
    """One request a service guards with a scope: a write (orders, customers) or a read."""

    method: str
    path: str
    body: dict[str, Any] | None


def _call(name: str, unique: str) -> Call:
    if name == "orders":
        body = {"order_id": f"o-{unique}", "customer_id": "c-1", "currency": "EUR"}
        return Call("POST", "/orders", body)
    if name == "customers":
        body = {"customer_id": f"c-{unique}", "name": "Ada", "email": f"{unique}@example.com"}
        return Call("POST", "/customers", body)
    return Call("GET", f"/orders/o-{unique}", None)


async def _events(stack: StackSettings, database: str) -> int:
    conn = await asyncpg.connect(stack.dsn(database, database.split("_")[0] + "_owner"))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM eventstore.events"))
    finally:
        await conn.close()


def _send(service: LiveService, call: Call, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    return httpx.request(call.method, service.url + call.path, json=call.body, headers=headers)


@pytest.mark.parametrize("name", ["orders", "customers", "query"])
def test_bad_tokens_are_refused_and_append_nothing(
    name: str, live: dict[str, LiveService], stack: StackSettings, databases: dict[str, str]
) -> None:
    service, unique = live[name], uuid.uuid4().hex[:12]
    call = _call(name, unique)
    writes = name != "query"
    before = asyncio.run(_events(stack, databases[name])) if writes else 0
    for case, make, status, says in TABLE:
        scope = WRONG_SCOPE[name] if case == "missing-scope" else RIGHT_SCOPE[name]
        answer = _send(service, call, make(name, scope))
        assert answer.status_code == status, (case, answer.text)
        assert says in answer.json()["detail"], (case, answer.text)
        error = "invalid_token" if status == 401 else "insufficient_scope"
        assert f'error="{error}"' in answer.headers["www-authenticate"], case
    if writes:
        assert asyncio.run(_events(stack, databases[name])) == before
    # The control row: the right token passes (a write appends, a read finds nothing yet).
    answer = _send(service, call, _mint()(name, RIGHT_SCOPE[name]))
    assert answer.status_code == (201 if writes else 404), answer.text
    if writes:
        assert asyncio.run(_events(stack, databases[name])) == before + 1


@pytest.mark.parametrize("name", ["orders", "query"])
def test_operations_endpoints_need_the_metrics_scope_outside_dev_mode(
    name: str, live: dict[str, LiveService]
) -> None:
    service = live[name]
    metrics = _mint()(name, "metrics")
    for path in ("/metrics", "/openapi.json", "/docs"):
        assert httpx.get(service.url + path).status_code == 401, path
        with_read = {"Authorization": f"Bearer {_mint()(name, 'read')}"}
        assert httpx.get(service.url + path, headers=with_read).status_code == 403, path
        answer = httpx.get(service.url + path, headers={"Authorization": f"Bearer {metrics}"})
        assert answer.status_code == 200, (path, answer.text)
    assert httpx.get(service.url + "/readyz").status_code == 200
