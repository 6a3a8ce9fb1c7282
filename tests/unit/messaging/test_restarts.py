"""Nothing dies silently: relay, subscriber and tail restart after any error, with back-off."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY

from annals.backoff import Backoff
from annals.cli import tail_cmds
from annals.eventstore.settings import ServiceDatabase
from annals.messaging import Subscriber
from annals.messaging.health import read_status
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings


def quick() -> Backoff:
    return Backoff(base=0.001, cap=0.002)


async def test_the_subscriber_restarts_after_any_error_and_says_why(caplog):
    async def handle(_):
        return None

    sub = Subscriber(["t"], "g-restart", handle, bootstrap="unused:1")
    sub.reconnect = quick()
    errors = [RuntimeError("a bug in a callback"), KafkaConnectionError("broker gone")]

    async def once() -> None:
        if errors:
            raise errors.pop(0)

    sub._run_once = once  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(sub.run(), 5)
    assert sub.stats.restarts == 2
    assert "broker gone" in sub.health.last_error and sub.health.last_error_at
    assert sub.health.state == "stopped"
    traced = [r for r in caplog.records if r.exc_info]
    assert len(traced) == 1 and "unexpected" in traced[0].getMessage()  # the bug has a traceback
    sample = REGISTRY.get_sample_value(
        "annals_subscriber_restarts_total", {"group": "g-restart", "error": "RuntimeError"}
    )
    assert sample == 1


@dataclass
class FakeLeadership:
    leads: int = 0
    released: int = 0

    async def acquire(self, stop):
        self.leads += 1
        return object()

    async def release(self):
        self.released += 1


async def test_the_relay_restarts_after_any_error_and_writes_its_state(tmp_path, caplog):
    settings = PublisherSettings(service="orders", topic="t.restart", publisher_name="t.restart")
    database = ServiceDatabase(service="orders", dsn="postgresql://x@127.0.0.1:1/x", owner_dsn="x")
    status = tmp_path / "status.json"
    process = RelayProcess(settings, database, KafkaSettings(bootstrap="unused:1"), status)
    process.leadership = FakeLeadership()  # type: ignore[assignment]
    process.restarts = quick()
    seen_states: list[str | None] = []
    runs = 0

    async def producer():
        return None

    async def relay(conn, producer, listener):
        nonlocal runs
        runs += 1
        seen = read_status(status)
        seen_states.append(seen.state if seen else None)
        if runs == 1:
            raise ValueError("unexpected")
        if runs == 2:
            process._published(3)
            raise KafkaConnectionError("broker gone")
        process.stop()

    process._start_producer = producer  # type: ignore[method-assign]
    process._relay = relay  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(process.run(), 5)
    assert runs == 3 and seen_states == ["active", "active", "active"]
    assert process.health.restarts == 2 and "broker gone" in process.health.last_error
    assert process.health.published == 3 and process.health.last_publish_at
    assert process.leadership.released >= 2  # type: ignore[attr-defined]
    assert not status.exists()  # removed on a clean stop
    assert sum(1 for r in caplog.records if r.exc_info) == 1
    labels = {"service": "orders", "publisher": "t.restart"}
    assert REGISTRY.get_sample_value("annals_publisher_leader", labels) == 0
    assert REGISTRY.get_sample_value("annals_publisher_events_total", labels) == 3
    since = REGISTRY.get_sample_value("annals_publisher_seconds_since_publish", labels)
    assert since is not None and 0 <= since < 5


@dataclass
class Info:
    leaders: dict[int, int]


async def test_tail_reconnects_and_goes_on(monkeypatch):
    calls: list[int] = []

    async def describe(bootstrap, topics):
        return [Info({0: 1})]

    async def follow(bootstrap, topic, from_beginning, state, backoff, options):
        calls.append(len(state.partitions))
        if len(calls) < 3:
            raise KafkaConnectionError("broker restarting")
        return True

    monkeypatch.setattr(tail_cmds, "describe_topics", describe)
    monkeypatch.setattr(tail_cmds, "_follow", follow)
    monkeypatch.setattr(tail_cmds, "Backoff", lambda base, cap: quick())
    await asyncio.wait_for(tail_cmds._tail("t", True, None, True, None, None), 5)
    assert calls == [1, 1, 1]
