"""The in-memory checkpoint store fulfils the contract."""

from __future__ import annotations

import pytest

from annals.messaging.checkpoints import InMemoryCheckpointStore
from tests.unit.messaging.checkpoint_contract import CheckpointStoreContract


class TestInMemoryCheckpointStore(CheckpointStoreContract):
    @pytest.fixture
    def checkpoints(self) -> InMemoryCheckpointStore:
        return InMemoryCheckpointStore()
