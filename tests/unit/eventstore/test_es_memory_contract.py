"""The EventStore contract against the in-memory adapter."""

from __future__ import annotations

import pytest

from annals.eventstore.memory import InMemoryEventStore
from tests.unit.eventstore.contract import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    """In-memory adapter."""

    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore(max_event_bytes=10_000)
