"""Which records of a batch are applied, skipped, parked or dead-lettered, in stream order.

A stream's events are applied in version order only: a lower version is a duplicate (skipped;
when its event id differs from the applied one it is an alarm, a dead letter); a higher one
parks until the missing version comes; a record that fails is dead-lettered and its stream
waits for it (`parked_at` = its version), so the versions after it park behind it.
"""

from __future__ import annotations

from collections.abc import Mapping

from annals.projections.events import Event
from annals.projections.records import (
    NEW,
    BatchResult,
    DeadLetter,
    Failure,
    Item,
    Mark,
    Poison,
    Where,
    where,
)


class Planner:
    """Walks a batch in order and decides, per record, apply / skip / park / dead-letter."""

    def __init__(
        self,
        marks: Mapping[str, Mark],
        parked: dict[str, dict[int, Event]],
        result: BatchResult,
        failed: Mapping[Where, Failure],
    ) -> None:
        self.marks = marks
        self.parked = parked
        self.result = result
        self.failed = failed
        self.events: list[Event] = []
        self.changed: dict[str, Mark] = {}
        self.parks: list[Event] = []
        self.unparks: list[tuple[str, int]] = []
        self.skip_gaps = False

    def mark(self, sid: str) -> Mark:
        """The stream's mark as this batch has changed it so far."""
        return self.changed.get(sid) or self.marks.get(sid, NEW)

    def failure(self, item: Item) -> Failure | None:
        """Why the item cannot be applied (poison, or failed in an earlier staging)."""
        if isinstance(item, Poison):
            return Failure(item.kind, item.error_class, item.reason)
        if not self.failed:  # the happy path: no tuple built per record
            return None
        return self.failed.get(where(item))

    def dead(self, item: Item, failure: Failure) -> None:
        """Dead-letter the item."""
        self.result.dead.append(_dead(item, failure))

    def add(self, item: Item) -> None:
        """Plan one record of the batch."""
        failure = self.failure(item)
        sid, version = item.stream_id, item.version
        if sid is None or version is None:
            if failure is not None:
                self.dead(item, failure)
            elif isinstance(item, Event):
                self.events.append(item)
            return
        applied, at, applied_id = self.mark(sid)
        held = self.parked.get(sid)
        if version <= applied or (held is not None and version in held):
            self._duplicate(item, applied, applied_id, held)
            return
        if version > applied + 1 and self.skip_gaps and at is None:
            self.result.gaps_skipped += version - applied - 1
            applied = version - 1
        if version > applied + 1:
            if not isinstance(item, Event):  # no data to park: the stream waits for it anyway
                assert failure is not None
                self.dead(item, failure)
                return
            self.parked.setdefault(sid, {})[version] = item
            self.parks.append(item)
            self.result.parked += 1
            gap = f"expected version {applied + 1}, got {version}"
            self.dead(item, Failure("version gap", VERSION_GAP, gap))
            self.changed[sid] = (applied, applied + 1, applied_id)
            return
        if failure is not None or not isinstance(item, Event):
            assert failure is not None
            self.dead(item, failure)
            self.changed[sid] = (applied, version, applied_id)  # parks: later versions wait
            return
        self.events.append(item)
        self._unpark(sid, version, item.id, held)

    def _unpark(self, sid: str, applied: int, applied_id: str | None, held: dict | None) -> None:
        while held and applied + 1 in held:
            following = held[applied + 1]
            failure = self.failed.get(where(following))
            if failure is not None:  # out of _parked into the DLQ; the stream waits for it
                del held[applied + 1]
                self.unparks.append((sid, applied + 1))
                self.dead(following, failure)
                self.changed[sid] = (applied, applied + 1, applied_id)
                return
            applied += 1
            self.events.append(held.pop(applied))
            self.unparks.append((sid, applied))
            self.result.unparked += 1
            applied_id = following.id
        self.changed[sid] = (applied, applied + 1 if held else None, applied_id)

    def _duplicate(
        self, item: Item, applied: int, applied_id: str | None, held: dict[int, Event] | None
    ) -> None:
        """A version seen before: skipped, unless its event id says it is another event."""
        version = item.version
        seen = applied_id if version == applied else None
        if held is not None and version in held:
            seen = held[version].id
        if item.id is None or seen is None or seen == item.id:
            self.result.skipped += 1
            return
        self.result.conflicts += 1
        message = (
            f"{item.stream_id}@{version} was applied as event {seen}; this record is event "
            f"{item.id}"
        )
        self.dead(item, Failure("conflicting duplicate", CONFLICT, message))


VERSION_GAP = "annals.projections.letters.VersionGap"
CONFLICT = "annals.projections.letters.ConflictingDuplicate"


def _dead(item: Item, failure: Failure) -> DeadLetter:
    raw = (item.topic, item.partition, item.offset, item.key, item.value, item.headers)
    kind = item.event_type if isinstance(item, Poison) else item.type
    return DeadLetter(
        *raw, failure.reason, failure.message, item.stream_id, item.version, kind,
        failure.error_class,
    )  # fmt: skip
