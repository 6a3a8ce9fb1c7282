"""A private rig (databases, topics) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from annals.stack.settings import StackSettings
from tests.integration.projections.rig import Rig, create, destroy


@pytest.fixture
async def rig(stack: StackSettings, unique: str) -> AsyncIterator[Rig]:
    """Scratch orders/customers event stores and a read-model database, own topic prefix."""
    created = await create(stack, unique)
    try:
        yield created
    finally:
        await destroy(created)
