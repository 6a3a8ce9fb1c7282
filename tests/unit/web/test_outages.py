"""Database outages answer 503 problem+json with Retry-After, logged once; the liveness rule."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from annals.eventstore.availability import Availability, PoolTimeout, is_outage
from annals.web.health import live
from annals.web.health import router as health_router
from annals.web.problems import PROBLEM_JSON, install_problem_handlers, to_problem
from tests.support.lines import Lines

OUTAGES = [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 55432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    TimeoutError(),
    PoolTimeout("no database connection within 5 s (2 of 2 in use)"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
]
NOT_OUTAGES = [
    asyncpg.UniqueViolationError("duplicate key value"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_every_outage_maps_to_503_with_retry_after(exc: Exception):
    problem = to_problem(exc)
    assert is_outage(exc)
    assert problem is not None and problem.status == 503
    assert problem.slug == "database-unavailable"
    assert int(problem.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("exc", NOT_OUTAGES, ids=lambda e: type(e).__name__)
def test_other_errors_are_not_outages(exc: Exception):
    assert not is_outage(exc)
    assert to_problem(exc) is None


def test_a_statement_timeout_is_503_but_no_outage():
    exc = asyncpg.QueryCanceledError("canceling statement due to statement timeout")
    problem = to_problem(exc)
    assert problem is not None and problem.status == 503 and not is_outage(exc)


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePool:
    """A pool whose probe answers or fails as told."""

    def __init__(self, availability: Availability) -> None:
        self.availability = availability
        self.answers = False
        self.probes = 0

    async def fetch(self, query: str) -> list[int]:
        self.probes += 1
        if not self.answers:
            self.availability.failed(ConnectionRefusedError(111, "refused"))
            raise ConnectionRefusedError(111, "refused")
        self.availability.succeeded()
        return [1]


def app_with(availability: Availability, pool: FakePool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(health_router)
    app.state.availability = availability
    app.state.database = pool

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        if not pool.answers:
            raise ConnectionRefusedError(111, "Connect call failed")
        return {"order_id": order_id}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_requests_during_an_outage_are_503_and_logged_once():
    lines, clock = Lines(), Clock()
    availability = Availability("orders database", lines, clock)
    pool = FakePool(availability)
    async with client(app_with(availability, pool)) as http:
        answers = await asyncio.gather(*(http.get(f"/orders/o{i}") for i in range(20)))
        assert {a.status_code for a in answers} == {503}
        assert all(a.headers["content-type"] == PROBLEM_JSON for a in answers)
        assert all(a.headers["retry-after"] == "2" for a in answers)
        assert answers[0].json()["type"] == "/problems/database-unavailable"
        assert len(lines.warnings) == 1 and lines.infos == []
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and "retry-after" in ready.headers
        pool.answers = True
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/orders/o1")).status_code == 200
    assert len(lines.warnings) == 1 and len(lines.infos) == 1


def test_the_liveness_rule():
    assert live(0.0, 30.0)
    assert live(29.9, 30.0)
    assert not live(30.0, 30.0)
    assert not live(120.0, 30.0)


def test_down_for_counts_from_the_first_failure_until_a_success():
    clock = Clock()
    availability = Availability("db", Lines(), clock)
    assert availability.down_for() == 0.0
    availability.failed(OSError("refused"))
    clock.now += 10
    availability.failed(OSError("refused"))  # later failures do not move the start
    clock.now += 25
    assert availability.down_for() == 35.0
    availability.succeeded()
    assert availability.down_for() == 0.0


async def test_healthz_fails_only_after_the_limit_and_a_failed_probe():
    lines, clock = Lines(), Clock()
    availability = Availability("orders database", lines, clock)
    pool = FakePool(availability)
    async with client(app_with(availability, pool)) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert pool.probes == 0  # no database round trip while all is well
        availability.failed(ConnectionRefusedError(111, "refused"))
        clock.now += 29
        assert (await http.get("/healthz")).status_code == 200
        assert pool.probes == 0
        clock.now += 2
        dead = await http.get("/healthz")
        assert dead.status_code == 503 and dead.json()["type"] == "/problems/not-live"
        assert pool.probes == 1
        pool.answers = True
        assert (await http.get("/healthz")).status_code == 200
        assert availability.down_for() == 0.0
