"""Per-stream order and idempotency of a subscriber: duplicates, version conflicts, parking.

Rules this guard protects (docs/messaging-failures.md explains them for users):
- a (stream, version) handled before under the same event id is a redelivery: skipped;
- a (stream, version) handled before under another event id is an alarm: it goes to the DLQ
  (reason `version conflict`) and is counted, never dropped silently;
- once a record of a stream went to the DLQ, every later record of that stream goes there too
  (reason `parked`), so a handler never sees version n+1 of a stream whose version n it has not
  handled; replaying the DLQ in its order handles them in stream order and unparks the stream.

Streams are told apart per topic (the same event relayed to two topics is two deliveries). The
guard lives in the subscriber's memory and remembers the last `capacity` (stream, version)
pairs; the subscriber parks again, at its start, the streams whose dead letters were not
replayed yet (see Subscriber._restore_parking).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    """What to do with a record of a stream."""

    HANDLE = "handle"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    PARKED = "parked"


@dataclass
class StreamGuard:
    """Remembers handled (stream, version) -> event id and the streams parked behind the DLQ."""

    capacity: int = 100_000
    seen: OrderedDict[tuple[str, int], str] = field(default_factory=OrderedDict)
    parked: dict[str, set[int]] = field(default_factory=dict)

    def check(self, stream: str | None, version: int | None, event_id: str) -> Verdict:
        """The verdict for a record; records without stream or version are always handled."""
        if stream is None or version is None:
            return Verdict.HANDLE
        known = self.seen.get((stream, version))
        if known is not None:
            self.seen.move_to_end((stream, version))
            return Verdict.DUPLICATE if known == event_id else Verdict.CONFLICT
        waiting = self.parked.get(stream)
        if waiting and version > min(waiting):
            return Verdict.PARKED
        return Verdict.HANDLE

    def handled(self, stream: str | None, version: int | None, event_id: str) -> None:
        """Remember a handled record; a replayed parked record leaves the parked set."""
        if stream is None or version is None:
            return
        self.seen[(stream, version)] = event_id
        self.seen.move_to_end((stream, version))
        while len(self.seen) > self.capacity:
            self.seen.popitem(last=False)
        waiting = self.parked.get(stream)
        if waiting is not None:
            waiting.discard(version)
            if not waiting:
                del self.parked[stream]

    def park(self, stream: str | None, version: int | None) -> None:
        """A record of `stream` went to the DLQ: hold its later records back."""
        if stream is None or version is None:
            return
        self.parked.setdefault(stream, set()).add(version)

    @property
    def parked_streams(self) -> int:
        """How many streams are parked."""
        return len(self.parked)
