"""Ports of the publisher (small Protocols); adapters: Kafka/PostgreSQL and in-memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from annals.eventstore.ports import Checkpoint, RecordedEvent


class Publisher(Protocol):
    """Sends stored events to their topic."""

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        """Send events in order; return only once the broker acknowledged every one."""
        ...


class CheckpointStore(Protocol):
    """Where a publisher resumes: the last (tx_id, position) the broker acknowledged."""

    async def load(self, name: str) -> Checkpoint:
        """The stored checkpoint of publisher `name` (START when none)."""
        ...

    async def save(self, name: str, checkpoint: Checkpoint, published: int = 0) -> None:
        """Store a checkpoint (never moving it backwards) and count `published` events."""
        ...
