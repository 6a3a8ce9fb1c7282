"""The query API's bounded work per request, without a database: tampered cursors and tokens
are 400 problems (never 500), at most 16 tokens, one query per projection, waits end on time."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query.app import create_app
from query.consistency import MAX_TOKENS, Consistency, Token, parse_tokens
from query.http import Freshness, encode_cursor
from query.settings import QuerySettings

from annals.web.auth import TokenVerifier, mint_token
from annals.web.problems import Problem

SETTINGS = QuerySettings(
    dsn="postgresql://a@h:1/d", owner_dsn="postgresql://b@h:1/d", log_json=False
)
APPLIED = "__applied"


class FakePool:
    """Answers the query API's statements from a dict of applied stream versions."""

    def __init__(self, applied: dict[str, int] | None = None, hang: bool = False) -> None:
        self.applied = applied or {}
        self.hang = hang
        self.checks: list[list[str]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if APPLIED in sql:
            self.checks.append(list(args[0]))
            if self.hang:
                await asyncio.sleep(3600)
            return [(s, self.applied[s]) for s in args[0] if s in self.applied]
        return []

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        if "__version" in sql:
            return (1, None)
        if "customer_orders" in sql:
            return {
                "customer_id": args[0],
                "name": "n",
                "email": "e",
                "phone": "p",
                "address": "{}",
            }
        return None


def app_on(pool: FakePool) -> FastAPI:
    """The real query app (routes, middleware, problems) on a fake pool, no lifespan."""
    app = create_app(SETTINGS)
    app.state.pool = pool
    app.state.consistency = Consistency(pool, SETTINGS.dsn, SETTINGS.view_schema)  # type: ignore[arg-type]
    app.state.freshness = Freshness(pool, SETTINGS.view_schema)
    app.state.verifier = TokenVerifier(SETTINGS)
    return app


READ = {"Authorization": f"Bearer {mint_token(SETTINGS, ['read'])}"}


@pytest.fixture(scope="module")
def call() -> Iterator[Any]:
    """call(path, params, headers) -> response, on one event loop for every example."""
    loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=app_on(FakePool()), raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://query")

    def run(path: str, params: dict[str, str], headers: dict[str, Any] | None = None) -> Any:
        return loop.run_until_complete(
            client.get(path, params=params, headers={**READ, **(headers or {})})
        )

    yield run
    loop.run_until_complete(client.aclose())
    loop.close()


def assert_400_or_200(answer: httpx.Response, field: str) -> None:
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == field


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
B64 = JSON.map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode().rstrip("="))
CURSORS = (
    st.text(max_size=600)
    | B64
    | st.tuples(st.text(max_size=40), st.text(max_size=70)).map(encode_cursor)
)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300
)
TOKEN_PART = st.from_regex(r"\A[a-z]{1,9}-[A-Za-z0-9_.:@-]{0,12}@-?[0-9]{0,12}\Z")
TOKENS = HEADER_TEXT | st.lists(TOKEN_PART, max_size=20).map(",".join)
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_the_tampered_cursor_of_the_bug_report_is_a_400(call: Any) -> None:
    answer = call("/orders", {"cursor": "WyJ4IiwieSJd"})
    assert answer.status_code == 400
    assert answer.json()["type"] == "/problems/malformed-cursor"
    assert answer.json()["errors"] == [
        {
            "field": "query.cursor",
            "message": "not a time and an order id",
            "type": "malformed-cursor",
        }
    ]


def test_a_cursor_handed_out_is_accepted(call: Any) -> None:
    cursor = encode_cursor(["2026-01-02T03:04:05+00:00", "o-1"])
    assert call("/orders", {"cursor": cursor}).status_code == 200
    assert call("/customers/c1/orders", {"cursor": cursor}).status_code == 200


@FAST
@given(cursor=CURSORS)
def test_any_cursor_is_200_or_400(call: Any, cursor: str) -> None:
    assert_400_or_200(call("/orders", {"cursor": cursor}), "query.cursor")
    assert_400_or_200(call("/customers/c1/orders", {"cursor": cursor}), "query.cursor")


@FAST
@given(token=TOKENS)
def test_any_consistency_token_is_200_or_400(call: Any, token: str) -> None:
    answer = call("/orders", {"wait": "0"}, {"X-Consistency-Token": token.encode("latin-1")})
    assert_400_or_200(answer, "header.X-Consistency-Token")
    answer = call("/reports/daily-sales", {"wait": "0", "consistency": token})
    assert_400_or_200(answer, "query.consistency")


def test_sixteen_tokens_pass_seventeen_are_a_400(call: Any) -> None:
    tokens = [f"order-o{i}@1" for i in range(MAX_TOKENS + 1)]
    header = {"X-Consistency-Token": ",".join(tokens[:MAX_TOKENS])}
    assert call("/orders", {"wait": "0"}, header).headers["x-consistency"] == "stale"
    answer = call("/orders", {"wait": "0", "consistency": tokens[-1]}, header)
    assert answer.status_code == 400
    assert answer.json()["type"] == "/problems/too-many-consistency-tokens"
    assert answer.json()["errors"][0]["field"] == "query.consistency"


@pytest.mark.parametrize(
    "raw, kind",
    [
        ("order-o1@0", "token-syntax"),
        ("order-o1@9999999999", "version"),
        ("nope-x@1", "stream-kind"),
    ],
)
def test_malformed_tokens_name_the_field_and_the_reason(raw: str, kind: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_tokens(None, raw)
    assert caught.value.status == 400
    assert caught.value.errors is not None
    assert (caught.value.errors[0].field, caught.value.errors[0].type) == (
        "query.consistency",
        kind,
    )


def test_a_stream_named_twice_keeps_its_highest_version() -> None:
    assert parse_tokens("order-a@2, order-a@5", "order-a@3") == [Token("order-a", 5)]
    with pytest.raises(Problem):
        parse_tokens(",".join(["order-a@1"] * 100), None)


async def test_one_query_per_projection_for_every_token() -> None:
    tokens = [Token(f"order-o{i}", 2) for i in range(8)] + [
        Token(f"customer-c{i}", 1) for i in range(8)
    ]
    pool = FakePool({t.stream_id: t.version for t in tokens})
    consistency = Consistency(pool, "", "readmodels")  # type: ignore[arg-type]
    outcome = await consistency.wait(tokens, ["customer_orders", "order_summary"], 1.0)
    assert outcome.satisfied and len(outcome.applied) == 16
    assert sorted(len(c) for c in pool.checks) == [
        8,
        16,
    ]  # order_summary: orders; customer_orders: all


async def test_a_wait_ends_at_its_deadline_with_what_was_seen() -> None:
    pool = FakePool({"order-a": 1})
    consistency = Consistency(pool, "", "readmodels")  # type: ignore[arg-type]
    started = time.monotonic()
    outcome = await consistency.wait(
        [Token("order-a", 3), Token("order-b", 1)], ["order_summary"], 0.4
    )
    assert 0.35 < time.monotonic() - started < 0.8
    assert not outcome.satisfied and outcome.applied == {"order-a": 1, "order-b": 0}
    await consistency.close()


async def test_a_wait_is_woken_when_the_version_is_applied() -> None:
    pool = FakePool({"order-a": 1})
    consistency = Consistency(pool, "", "readmodels")  # type: ignore[arg-type]
    waiting = asyncio.create_task(consistency.wait([Token("order-a", 2)], ["order_summary"], 5.0))
    await asyncio.sleep(0.1)
    pool.applied["order-a"] = 2
    outcome = await asyncio.wait_for(waiting, 2.0)
    assert outcome.satisfied and outcome.applied == {"order-a": 2}
    await consistency.close()


async def test_a_hung_database_does_not_hold_the_wait_past_its_bound() -> None:
    consistency = Consistency(FakePool(hang=True), "", "readmodels")  # type: ignore[arg-type]
    started = time.monotonic()
    outcome = await consistency.wait([Token("order-a", 1)], ["order_summary"], 0.2)
    assert time.monotonic() - started < 1.5  # the first look gets at least CHECK_FLOOR (1 s)
    assert not outcome.satisfied and outcome.applied == {"order-a": 0}
    await consistency.close()


async def test_a_wait_after_a_look_starts_from_the_versions_it_saw() -> None:
    pool = FakePool({"order-a": 1})
    consistency = Consistency(pool, "", "readmodels")  # type: ignore[arg-type]
    waiting = asyncio.create_task(
        consistency.wait([Token("order-a", 2)], ["order_summary"], 5.0, seen={"order-a": 1})
    )
    await asyncio.sleep(0.1)
    pool.applied["order-a"] = 2
    outcome = await asyncio.wait_for(waiting, 2.0)
    assert outcome.satisfied and outcome.applied == {"order-a": 2}
    assert len(pool.checks) >= 1  # the watcher's, woken at once
    await consistency.close()


async def test_a_look_that_saw_enough_is_not_looked_at_again() -> None:
    pool = FakePool({"order-a": 1})
    consistency = Consistency(pool, "", "readmodels")  # type: ignore[arg-type]
    outcome = await consistency.wait(
        [Token("order-a", 1)], ["order_summary"], 1.0, seen={"order-a": 1}
    )
    assert outcome.satisfied and outcome.applied == {"order-a": 1}
    assert pool.checks == []  # no round trip: the look's versions suffice
    await consistency.close()


class SlowVersions:
    """A pool whose freshness lookup takes a while, counting the lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.lookups += 1
        await asyncio.sleep(0.05)
        return (3, None)


async def test_requests_that_find_the_freshness_expired_share_one_lookup() -> None:
    pool = SlowVersions()
    found = Freshness(pool, "readmodels")
    answers = await asyncio.gather(*(found.of("order_summary") for _ in range(20)))
    assert answers == ["order_summary@v3"] * 20
    assert pool.lookups == 1
    assert await found.of("order_summary") == "order_summary@v3"
    assert pool.lookups == 1  # within FRESHNESS_TTL: no lookup at all


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_lookup() -> None:
    pool = SlowVersions()
    found = Freshness(pool, "readmodels")
    first = asyncio.create_task(found.of("order_summary"))
    second = asyncio.create_task(found.of("order_summary"))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "order_summary@v3"
    assert pool.lookups == 1


class DownThenUp(SlowVersions):
    """A pool whose first lookup fails as a lost connection does."""

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        if self.lookups == 0:
            self.lookups += 1
            await asyncio.sleep(0.05)
            raise ConnectionResetError("server closed the connection")
        return await super().fetchrow(sql, *args)


async def test_a_failed_shared_lookup_fails_its_callers_and_is_not_remembered() -> None:
    pool = DownThenUp()
    found = Freshness(pool, "readmodels")
    answers = await asyncio.gather(
        *(found.of("order_summary") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(a, ConnectionResetError) for a in answers)
    assert await found.of("order_summary") == "order_summary@v3"  # looked up again
    assert pool.lookups == 2
