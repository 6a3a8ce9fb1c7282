"""Typed events, aggregates and snapshots over the in-memory adapter."""

from __future__ import annotations

import pytest

from annals.eventstore.memory import InMemoryEventStore
from tests.unit.eventstore.typed_contract import TypedContract


class TestInMemoryTyped(TypedContract):
    """In-memory adapter."""

    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore()
