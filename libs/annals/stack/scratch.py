"""Scratch databases on the stack's server, for tests and benchmarks that need isolation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from annals.stack.settings import StackSettings


async def create_database(
    settings: StackSettings, prefix: str, owner: str, connect_roles: Iterable[str] = ()
) -> str:
    """Create `<prefix>_<random>` owned by `owner`, CONNECT granted to `connect_roles`."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(settings.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        for role in connect_roles:
            await conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    finally:
        await conn.close()
    return name


async def drop_database(settings: StackSettings, name: str) -> None:
    """Drop a scratch database, closing its sessions (its replication slots must be gone)."""
    conn = await asyncpg.connect(settings.dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
