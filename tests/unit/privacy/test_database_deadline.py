"""The report's database visits: a server that never answers is an 'unknown' finding in time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from annals.privacy import UNKNOWN, places
from annals.privacy.sources import Sources


class _SilentConnection:
    """Accepts the connection, then never answers a query."""

    terminated = closed = 0
    ended = False

    async def execute(self, *_: Any) -> str:
        return "SET"

    async def fetch(self, *_: Any) -> list[Any]:
        await asyncio.Event().wait()
        return []

    fetchval = fetchrow = fetch

    def is_closed(self) -> bool:
        return self.ended

    def terminate(self) -> None:
        type(self).terminated += 1
        self.ended = True

    async def close(self) -> None:
        type(self).closed += 1
        self.ended = True


def _sources(seconds: float) -> Sources:
    return Sources(
        keys_dsn="postgresql://keys", store_dsns={"orders": "postgresql://orders"},
        database_dsns={"read": "postgresql://read"}, bootstrap="kafka:9092",
        topic=lambda name: f"t.{name}", database_seconds=seconds,
    )  # fmt: skip


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> type[_SilentConnection]:
    class Conn(_SilentConnection):
        pass

    async def connect(*_: Any, **__: Any) -> Conn:
        return Conn()

    monkeypatch.setattr(places.asyncpg, "connect", connect)
    return Conn


async def _timed(work: Any) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(10):  # a hang fails the test instead of stopping the suite
        found = await work
    return found, loop.time() - began


async def test_a_silent_key_store_is_unknown_and_the_key_counted_present(
    silent: type[_SilentConnection],
):
    (finding, key, forgotten), took = await _timed(places.key_finding(_sources(0.3), "ada"))
    assert took < 2.0
    assert (finding.state, key, forgotten) == (UNKNOWN, True, False)
    assert "did not answer within 0.3 s" in finding.detail
    assert silent.terminated == 1 and silent.closed == 0


async def test_silent_event_stores_and_read_models_are_unknown_findings(
    silent: type[_SilentConnection],
):
    sources, names, streams = _sources(0.3), frozenset({"email"}), ["customer-ada"]
    stores, took = await _timed(places.store_findings(sources, "ada", streams, names, True))
    models, took_too = await _timed(
        places.read_model_findings(sources, "ada", streams, names, True)
    )
    assert took < 2.0 and took_too < 2.0
    assert [(f.place, f.state) for f in stores] == [("orders events", UNKNOWN)]
    assert [(f.place, f.state) for f in models] == [("read", UNKNOWN)]
    assert all("did not answer within 0.3 s" in f.detail for f in stores + models)


async def test_a_server_that_never_accepts_is_unknown_in_time(monkeypatch: pytest.MonkeyPatch):
    async def never(*_: Any, **__: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(places.asyncpg, "connect", never)
    found, took = await _timed(places.store_findings(_sources(0.2), "ada", [], frozenset(), False))
    assert took < 2.0
    assert [f.state for f in found] == [UNKNOWN]
