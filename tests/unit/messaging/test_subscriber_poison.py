"""The subscriber's record path without Kafka: every poison shape, parking, conflicts, replay."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.structs import ConsumerRecord

from annals.eventstore.memory import InMemoryKeyStore
from annals.messaging import PermanentError, Received, RetriableError, Subscriber
from annals.messaging import subscriber as subscriber_module
from annals.messaging.dlq import read_dlq_headers
from annals.messaging.ordering import StreamGuard, Verdict
from tests.unit.messaging.poison import FLAKY_SKU, PERMANENT_SKU, REGISTRY, Item, good, poison

TOPIC = "test.events"


class FakeDeadLetters:
    """Keeps dead letters as the DLQ topic would (offset = index)."""

    def __init__(self) -> None:
        self.letters: list[ConsumerRecord] = []

    async def send(self, key, value, headers, stopping) -> bool:
        self.letters.append(
            ConsumerRecord("g.dlq", 0, len(self.letters), 0, 0, key, value, None, 0, 0, headers)
        )
        return True


def fake_dlq(monkeypatch, dead: FakeDeadLetters) -> dict[int, int]:
    """Reads of the fake DLQ and a dict for the replay group's offsets."""
    marks: dict[int, int] = {}

    async def read(bootstrap, topic, offsets=None, timeout=30.0, start=None, principal="admin"):
        first = (start or {}).get(0, 0)
        return [
            x for x in dead.letters
            if x.offset >= first and (offsets is None or x.offset in offsets)
        ]  # fmt: skip

    async def upto(bootstrap, topic, group, principal="admin"):
        return dict(marks)

    async def mark(bootstrap, topic, group, done, principal="admin"):
        marks.update(done)

    monkeypatch.setattr(subscriber_module, "read_dead_letters", read)
    monkeypatch.setattr(subscriber_module, "replayed_upto", upto)
    monkeypatch.setattr(subscriber_module, "mark_replayed", mark)
    return marks


def record(item: Item, offset: int) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 1, 0, item.key, item.value, None, 0, 0, item.headers)


def make(handled: list[tuple[str | None, int | None]], *, fail: set[str] | None = None):
    failing = fail if fail is not None else {PERMANENT_SKU, FLAKY_SKU}

    async def handle(received: Received) -> None:
        sku = received.data.get("sku")
        if sku == PERMANENT_SKU and sku in failing:
            raise PermanentError("cannot bill")
        if sku == FLAKY_SKU and sku in failing:
            raise RetriableError("billing timed out")
        handled.append((received.subject, received.version))

    keys = InMemoryKeyStore()
    sub = Subscriber(
        [TOPIC], "g", handle, registry={"orders": REGISTRY}, keys=keys, bootstrap="unused:1",
        max_attempts=3, backoff=0.001, max_backoff=0.002,
    )  # fmt: skip
    return sub, keys


async def feed(sub: Subscriber, dead: FakeDeadLetters, items: list[Item], start: int = 0) -> None:
    for offset, item in enumerate(items, start):
        await sub._process(record(item, offset), dead)  # type: ignore[arg-type]


async def test_every_poison_shape_goes_to_the_dlq_and_later_records_are_handled():
    handled: list[tuple[str | None, int | None]] = []
    sub, keys = make(handled)
    items = poison(f"s-{uuid.uuid4().hex[:6]}")
    await keys.get_or_create(items[9].stream)  # the key exists; the envelope still fails
    dead = FakeDeadLetters()
    later = [good(f"later-{n}", 1) for n in range(3)]
    await feed(sub, dead, [*items, *later])

    infos = [read_dlq_headers(list(letter.headers)) for letter in dead.letters]
    assert [i["reason"] for i in infos] == [item.reason for item in items]
    assert [int(i["original_offset"]) for i in infos] == list(range(len(items)))
    assert all(i["original_topic"] == TOPIC and i["original_partition"] == "0" for i in infos)
    assert all(i["timestamp"] and i["error_class"] and i["group"] == "g" for i in infos)
    assert [letter.value for letter in dead.letters] == [item.value for item in items]
    assert ("source", b"test") in dead.letters[0].headers  # original headers kept
    assert infos[-1]["attempts"] == "3" and infos[-1]["retriable"] == "true"
    assert handled == [(f"later-{n}", 1) for n in range(3)]
    assert sub.stats.dead_lettered == len(items)


async def test_later_records_of_a_stream_with_a_dead_letter_are_parked_not_skipped():
    handled: list[tuple[str | None, int | None]] = []
    sub, _ = make(handled)
    dead = FakeDeadLetters()
    await feed(
        sub, dead,
        [good("a", 1), good("a", 2, PERMANENT_SKU), good("a", 3), good("b", 1), good("a", 4)],
    )  # fmt: skip
    reasons = [read_dlq_headers(list(x.headers))["reason"] for x in dead.letters]
    assert reasons == ["permanent error", "parked", "parked"]
    assert handled == [("a", 1), ("b", 1)]
    assert sub.guard.parked_streams == 1


async def test_replay_after_the_fix_handles_the_parked_stream_in_order_once(monkeypatch):
    handled: list[tuple[str | None, int | None]] = []
    failing = {PERMANENT_SKU}
    sub, _ = make(handled, fail=failing)
    dead = FakeDeadLetters()
    await feed(sub, dead, [good("a", 1), good("a", 2, PERMANENT_SKU), good("a", 3)])

    marks = fake_dlq(monkeypatch, dead)
    failing.clear()  # the cause is fixed
    first = await sub.replay_dead_letters()
    assert (first.handled, first.skipped, first.failed) == (2, 0, [])
    assert handled == [("a", 1), ("a", 2), ("a", 3)]
    assert sub.guard.parked_streams == 0
    assert marks == {0: 2}  # both replayed: a restart parks nothing
    again = await sub.replay_dead_letters(offsets={0, 1})
    assert (again.handled, again.skipped) == (0, 2)
    assert handled == [("a", 1), ("a", 2), ("a", 3)]  # replaying twice changes nothing
    await feed(sub, dead, [good("a", 4)], start=3)
    assert handled[-1] == ("a", 4) and len(dead.letters) == 2


async def test_a_failed_replay_keeps_the_stream_parked_and_dead_letters_nothing_twice(monkeypatch):
    handled: list[tuple[str | None, int | None]] = []
    sub, _ = make(handled)
    dead = FakeDeadLetters()
    await feed(sub, dead, [good("a", 1, PERMANENT_SKU), good("a", 2)])

    marks = fake_dlq(monkeypatch, dead)
    result = await sub.replay_dead_letters()
    assert result.handled == 0 and [o for o, _ in result.failed or []] == [0, 1]
    assert len(dead.letters) == 2 and handled == []
    assert marks == {}  # nothing replayed: a restarted subscriber parks the stream again

    restarted, _ = make(handled)
    await restarted._restore_parking()
    await feed(restarted, dead, [good("a", 3), good("b", 1)], start=2)
    assert handled == [("b", 1)]  # "a" stays parked behind its dead letters after a restart
    assert read_dlq_headers(list(dead.letters[-1].headers))["reason"] == "parked"


async def test_same_stream_version_under_another_event_id_is_an_alarm_not_a_drop():
    handled: list[tuple[str | None, int | None]] = []
    sub, _ = make(handled)
    dead = FakeDeadLetters()
    first_id = uuid.uuid4()
    await feed(sub, dead, [good("a", 1, event_id=first_id), good("a", 1, event_id=first_id)])
    assert handled == [("a", 1)] and sub.stats.duplicates == 1 and not dead.letters
    await feed(sub, dead, [good("a", 1, event_id=uuid.uuid4()), good("a", 2)], start=2)
    [letter] = dead.letters
    assert read_dlq_headers(list(letter.headers))["reason"] == "version conflict"
    assert "VersionConflict" in read_dlq_headers(list(letter.headers))["error_class"]
    assert sub.stats.conflicts == 1
    assert handled == [("a", 1), ("a", 2)]  # a conflict does not park the stream


async def test_a_retry_is_cut_short_by_stop():
    async def handle(received: Received) -> None:
        raise RetriableError("down")

    sub = Subscriber(
        [TOPIC], "g", handle, registry={"orders": REGISTRY}, bootstrap="unused:1",
        max_attempts=100, backoff=5, max_backoff=5,
    )  # fmt: skip
    dead = FakeDeadLetters()
    task = asyncio.ensure_future(feed(sub, dead, [good("a", 1)]))
    await asyncio.sleep(0.05)
    sub.stop()
    with pytest.raises(subscriber_module._Stopped):
        await asyncio.wait_for(task, 2)
    assert dead.letters == []  # not dead-lettered: redelivered after the restart


def test_guard_verdicts():
    guard = StreamGuard(capacity=2)
    assert guard.check("s", 1, "e1") is Verdict.HANDLE
    guard.handled("s", 1, "e1")
    assert guard.check("s", 1, "e1") is Verdict.DUPLICATE
    assert guard.check("s", 1, "e9") is Verdict.CONFLICT
    guard.park("s", 2)
    assert guard.check("s", 2, "e2") is Verdict.HANDLE  # the parked record itself, on replay
    assert guard.check("s", 3, "e3") is Verdict.PARKED
    guard.handled("s", 2, "e2")
    assert guard.check("s", 3, "e3") is Verdict.HANDLE and guard.parked_streams == 0
    guard.handled("t", 1, "x")
    guard.handled("u", 1, "y")
    assert guard.check("s", 1, "e9") is Verdict.HANDLE  # forgotten beyond capacity
    assert guard.check(None, None, "z") is Verdict.HANDLE


async def test_a_bug_of_the_subscriber_on_one_record_dead_letters_it_and_goes_on():
    handled: list[tuple[str | None, int | None]] = []
    sub, _ = make(handled)
    dead = FakeDeadLetters()
    check = sub.guard.check

    def broken(stream, version, event_id):
        if stream and stream.endswith("/bad"):
            raise KeyError("internal state")
        return check(stream, version, event_id)

    sub.guard.check = broken  # type: ignore[method-assign]
    await feed(sub, dead, [good("bad", 1), good("fine", 1)])
    [letter] = dead.letters
    assert read_dlq_headers(list(letter.headers))["reason"] == "internal error"
    assert handled == [("fine", 1)]
