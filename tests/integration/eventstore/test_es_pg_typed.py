"""Typed events, aggregates, snapshots and crypto-shredding over PostgreSQL."""

from __future__ import annotations

import pytest

from annals.eventstore.postgres import PostgresEventStore
from tests.unit.eventstore.typed_contract import TypedContract

pytestmark = pytest.mark.stack


class TestPostgresTyped(TypedContract):
    """PostgreSQL adapter."""

    @pytest.fixture
    def store(self, pg_store: PostgresEventStore) -> PostgresEventStore:
        return pg_store
