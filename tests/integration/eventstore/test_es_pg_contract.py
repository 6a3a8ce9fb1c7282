"""The EventStore contract against PostgreSQL."""

from __future__ import annotations

import pytest

from annals.eventstore.postgres import PostgresEventStore
from tests.unit.eventstore.contract import EventStoreContract

pytestmark = pytest.mark.stack


class TestPostgresEventStore(EventStoreContract):
    """PostgreSQL adapter."""

    @pytest.fixture
    def store(self, pg_store: PostgresEventStore) -> PostgresEventStore:
        return pg_store
