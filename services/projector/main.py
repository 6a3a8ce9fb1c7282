"""The projector worker process: `annals projector run [names]` (one consumer per projection)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence

import asyncpg
from prometheus_client import start_http_server

from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.ports import KeyStore
from annals.projections.settings import ProjectorSettings
from annals.projections.worker import Worker
from projector.catalog import pick, registries

log = logging.getLogger("projector")


@contextlib.asynccontextmanager
async def key_store(settings: ProjectorSettings) -> AsyncIterator[KeyStore | None]:
    """The customers key store (personal data of read models), None when unreachable."""
    try:
        pool = await asyncpg.create_pool(settings.keys_dsn, min_size=1, max_size=2)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("key store unreachable (%s): personal data stays encrypted", exc)
        yield None
        return
    try:
        yield PostgresKeyStore(pool)
    finally:
        await pool.close()


def _stop_all(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()


async def serve(
    names: Sequence[str] | None = None, settings: ProjectorSettings | None = None
) -> None:
    """Run a worker per projection until SIGTERM/SIGINT."""
    settings = settings or ProjectorSettings()
    projections = pick(list(names or []))
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    async with key_store(settings) as keys:
        workers = [Worker(p, settings, keys=keys, registries=registries()) for p in projections]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stop_all, workers)
        log.info("projecting %s", ", ".join(p.name for p in projections))
        await asyncio.gather(*(w.run_forever() for w in workers))
