"""The report's Kafka scans: one deadline for all of them, and one topic cannot fail the rest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from annals.privacy import ABSENT, UNKNOWN
from annals.privacy import topics as scans
from annals.privacy.sources import Sources

DLQS = [f"t.reactor-{n}.dlq" for n in range(10)]
CDC = "t.legacy.public.customers"


class _Consumer:
    """A consumer over empty one-partition topics; `hang` never connects, `broken` fails."""

    hang = False
    broken: str | None = None
    started = 0

    def __init__(self, **_: Any) -> None:
        self.at: dict[Any, int] = {}

    async def start(self) -> None:
        type(self).started += 1
        if self.hang:
            await asyncio.Event().wait()

    async def stop(self) -> None:
        return None

    def partitions_for_topic(self, topic: str) -> set[int]:
        if topic == self.broken:
            raise RuntimeError("the broker went away")
        return {0}

    def assign(self, parts: list[Any]) -> None:
        self.at = {tp: 0 for tp in parts}

    async def seek_to_beginning(self, *parts: Any) -> None:
        return None

    async def end_offsets(self, parts: list[Any]) -> dict[Any, int]:
        return {tp: 0 for tp in parts}

    async def position(self, tp: Any) -> int:
        return self.at[tp]


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> type[_Consumer]:
    class Fake(_Consumer):
        pass

    async def existing(*_: Any) -> set[str]:
        return {*DLQS, CDC}

    monkeypatch.setattr(scans, "AIOKafkaConsumer", Fake)
    monkeypatch.setattr(scans, "list_topics", existing)
    monkeypatch.setattr(scans, "client_security", lambda *_: {})
    return Fake


def _sources(seconds: float) -> Sources:
    return Sources(
        keys_dsn="", store_dsns={}, database_dsns={}, bootstrap="kafka:9092",
        topic=lambda name: f"t.{name}", topic_prefix="t.", cdc={CDC: ("email",)},
        scan_seconds=seconds,
    )  # fmt: skip


async def _findings(sources: Sources) -> dict[str, Any]:
    async with asyncio.timeout(10):  # a hang fails the test instead of stopping the suite
        found = await scans.topic_findings(sources, "ada", [], frozenset({"email"}), False)
    return {f.place: f for f in found}


async def test_every_topic_is_read_when_kafka_answers(consumer: type[_Consumer]):
    found = await _findings(_sources(5.0))
    assert set(found) == {*DLQS, CDC}
    assert {f.state for f in found.values()} == {ABSENT}
    assert consumer.started == len(DLQS) + 1


async def test_all_scans_share_one_deadline_and_end_unknown(consumer: type[_Consumer]):
    consumer.hang = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    found = await _findings(_sources(0.5))
    # eleven topics each hanging: read one after another with their own 0.5 s, this is 5.5 s
    assert loop.time() - began < 2.0
    assert {f.state for f in found.values()} == {UNKNOWN}
    assert all("not read to its end in time" in f.detail for f in found.values())


async def test_one_failing_topic_is_unknown_and_the_others_are_still_read(
    consumer: type[_Consumer],
):
    consumer.broken = DLQS[3]
    found = await _findings(_sources(5.0))
    assert found[DLQS[3]].state == UNKNOWN
    assert "RuntimeError: the broker went away" in found[DLQS[3]].detail
    assert {f.state for p, f in found.items() if p != DLQS[3]} == {ABSENT}


async def test_a_purge_scan_alone_still_reports_an_incomplete_read(consumer: type[_Consumer]):
    consumer.hang = True
    records, complete = await scans.scan(_sources(0.2), {}, CDC, None)
    assert (records, complete) == ([], False)


async def test_a_broker_that_never_lists_its_topics_is_one_unknown_finding(
    consumer: type[_Consumer], monkeypatch: pytest.MonkeyPatch
):
    async def silent(*_: Any) -> set[str]:
        await asyncio.Event().wait()
        return set()

    monkeypatch.setattr(scans, "list_topics", silent)
    found = await _findings(_sources(0.3))
    assert [(f.place, f.state) for f in found.values()] == [("*", UNKNOWN)]
    assert "not listed within 0.3 s" in found["*"].detail
