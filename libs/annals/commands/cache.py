"""The aggregate cache: per process, the last committed state of recently used aggregates.

A command decides on the cached state and appends with the cached version as its expected
version, so it skips loading the stream. Why that never yields a stale decision:

- an entry is put only after its version is committed (the executor's own append outside a
  caller's transaction) and only over an older entry, so (version, state) is always a state
  the store really had at that version;
- the append's expected-version check proves the stream is still at that version; if another
  worker or instance moved it, the append fails with WrongExpectedVersion, the entry is evicted
  and the command runs again on a fresh load;
- a refusal, a no-op or an If-Match mismatch decided on a cached state is not answered either:
  the entry is evicted and the command decided again on a fresh load, since those outcomes are
  never checked by an append;
- a stream with no entry is first presumed new (initial state, version 0), so a creating
  command skips its load: the append expecting no stream proves it, and a stream that exists
  after all fails that append, or the decision, and is loaded like any stale entry.

The bound is a number of entries (least recently used evicted first); size 0 turns it off.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Cached(Generic[S]):
    """An aggregate's state at a committed stream version."""

    version: int
    state: S


class AggregateCache(Generic[S]):
    """Stream id -> (version, state), at most `size` entries, least recently used evicted."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._items: OrderedDict[str, Cached[S]] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    @property
    def enabled(self) -> bool:
        """Whether the cache keeps anything."""
        return self.size > 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, stream_id: str) -> Cached[S] | None:
        """The cached entry of a stream, if any (and mark it recently used)."""
        hit = self._items.get(stream_id)
        if hit is None:
            self.misses += self.enabled
            return None
        self.hits += 1
        self._items.move_to_end(stream_id)
        return hit

    def put(self, stream_id: str, version: int, state: S) -> None:
        """Remember a committed state, unless a newer version is already cached."""
        if not self.enabled:
            return
        known = self._items.get(stream_id)
        if known is not None and known.version > version:
            return
        self._items[stream_id] = Cached(version, state)
        self._items.move_to_end(stream_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
            self.evictions += 1

    def evict(self, stream_id: str) -> None:
        """Forget a stream's entry (it proved stale, or its commit is not known)."""
        self._items.pop(stream_id, None)
