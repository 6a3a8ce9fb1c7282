"""The CheckpointStore contract, shared by the in-memory and PostgreSQL adapters."""

from __future__ import annotations

from annals.eventstore.ports import START, Checkpoint
from annals.messaging.ports import CheckpointStore


class CheckpointStoreContract:
    """Subclasses provide a `checkpoints` fixture and a unique `name`."""

    async def test_unknown_publisher_starts_at_the_beginning(
        self, checkpoints: CheckpointStore, unique: str
    ):
        assert await checkpoints.load(f"p-{unique}") == START

    async def test_saved_checkpoint_is_loaded_back(self, checkpoints: CheckpointStore, unique: str):
        await checkpoints.save(f"p-{unique}", Checkpoint(10, 5), 5)
        await checkpoints.save(f"p-{unique}", Checkpoint(12, 9), 4)
        assert await checkpoints.load(f"p-{unique}") == Checkpoint(12, 9)

    async def test_checkpoint_never_moves_backwards(
        self, checkpoints: CheckpointStore, unique: str
    ):
        await checkpoints.save(f"p-{unique}", Checkpoint(12, 9))
        await checkpoints.save(f"p-{unique}", Checkpoint(12, 3))
        await checkpoints.save(f"p-{unique}", Checkpoint(11, 50))
        assert await checkpoints.load(f"p-{unique}") == Checkpoint(12, 9)

    async def test_publishers_keep_their_own_checkpoints(
        self, checkpoints: CheckpointStore, unique: str
    ):
        await checkpoints.save(f"a-{unique}", Checkpoint(3, 3))
        await checkpoints.save(f"b-{unique}", Checkpoint(7, 7))
        assert await checkpoints.load(f"a-{unique}") == Checkpoint(3, 3)
        assert await checkpoints.load(f"b-{unique}") == Checkpoint(7, 7)
