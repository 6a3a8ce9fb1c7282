"""The projector worker process: `annals projections run [names]` (one consumer per projection).

The projections are the declared ones (annals.topology); events are decoded with the event
registries of the services that declare them.

Each projection runs in a task of its own under `Worker.run_forever`, which never returns
before stop(): a projection that fails restarts with back-off and shows as stalled, and its
siblings in the process go on. Should a task end anyway, the others are left running and the
end is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence

import asyncpg
from prometheus_client import start_http_server

from annals import tracing
from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.ports import KeyStore
from annals.eventstore.registry import EventRegistry
from annals.projections.projection import Projection
from annals.projections.settings import ProjectorSettings
from annals.projections.worker import Worker
from annals.topology import resolve, topology

log = logging.getLogger("projector")


def registries() -> dict[str, EventRegistry]:
    """Event registries by declared service (upcasting of older schema versions)."""
    declared = topology().services.values()
    return {s.name: EventRegistry(resolve(s.events)) for s in declared if s.events}


def pick(names: Sequence[str] | None) -> list[Projection]:
    """Declared projections by name (all when names is empty); ValueError for an unknown name."""
    projections = topology().projections
    if not names:
        return list(projections.values())
    unknown = sorted(set(names) - set(projections))
    if unknown:
        raise ValueError(f"unknown projections {unknown}; known: {sorted(projections)}")
    return [projections[n] for n in names]


@contextlib.asynccontextmanager
async def key_store(settings: ProjectorSettings) -> AsyncIterator[KeyStore | None]:
    """The key store of the subjects' keys (personal data of read models).

    The pool connects on first use (min_size 0): a key store that is away at start is an
    error of the batches that need it (retried, the projection stalls), not encrypted values
    written into a read model.
    """
    try:
        pool = await asyncpg.create_pool(settings.keys_dsn, min_size=0, max_size=2, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:  # pragma: no cover - min_size 0 connects lazily
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


async def run_all(workers: Sequence[Worker]) -> None:
    """Run every worker until each has stopped; one ending or failing never stops another."""
    tasks = {asyncio.create_task(w.run_forever(), name=w.group): w for w in workers}
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            worker = tasks[task]
            if task.cancelled():
                log.error("%s was cancelled; the other projections go on", worker.group)
            elif task.exception() is not None:
                log.error("%s ended with an error; the other projections go on", worker.group,
                          exc_info=task.exception())  # fmt: skip
            elif not worker.stopping.is_set():
                log.error("%s returned before stop(); the other projections go on", worker.group)


async def serve(
    names: Sequence[str] | None = None, settings: ProjectorSettings | None = None
) -> None:
    """Run a worker per projection until SIGTERM/SIGINT."""
    settings = settings or ProjectorSettings()
    tracing.configure("projector")
    projections = pick(list(names or []))
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    async with key_store(settings) as keys:
        workers = [Worker(p, settings, keys=keys, registries=registries()) for p in projections]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stop_all, workers)
        log.info("projecting %s", ", ".join(p.name for p in projections))
        await run_all(workers)
