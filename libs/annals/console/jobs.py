"""Rebuilds started from the console: one background task a projection, its progress and ETA.

A rebuild builds and catches up a new version beside the live one (annals.projections.rebuild
with switch=False) and then waits for the operator's switch, which makes it live and drops the
previous version, as `annals projections rebuild` does in one go.

The jobs are derived again from the projections' own registry when the console starts: a
caught-up version is marked `ready` there, so its switch survives a restart, and a version still
`building` that no job of this console builds (a CLI rebuild, or a console that was killed) is
shown as building elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from annals.eventstore.ports import KeyStore
from annals.projections import versions
from annals.projections.process import pick, registries
from annals.projections.rebuild import Rebuild
from annals.projections.settings import ProjectorSettings


@dataclass
class Job:
    """One rebuild: its phase, events done of total, state and the version it builds."""

    name: str
    state: str = "running"  # running | ready | switched | failed | elsewhere
    phase: str = "starting"
    done: int = 0
    total: int | None = None
    started: float = field(default_factory=time.monotonic)
    phase_started: float = field(default_factory=time.monotonic)
    version: int | None = None
    previous: int | None = None
    error: str = ""
    task: asyncio.Task[Any] | None = None

    def progress(self, phase: str, done: int, total: int | None) -> None:
        """The rebuild's progress callback."""
        if phase != self.phase:
            self.phase, self.phase_started = phase, time.monotonic()
        self.done, self.total = done, total

    @property
    def percent(self) -> int:
        """How far the current phase is, 0-100 (100 once caught up)."""
        if self.state != "running":
            return 100
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)

    @property
    def eta_s(self) -> float | None:
        """Seconds left in the current phase at its rate so far."""
        elapsed = time.monotonic() - self.phase_started
        if self.state != "running" or not self.total or not self.done or elapsed <= 0:
            return None
        return max(0.0, (self.total - self.done) / (self.done / elapsed))


class Rebuilds:
    """The console's rebuild jobs by projection name."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def start(self, name: str, keys: KeyStore | None) -> Job:
        """Start a rebuild of `name` unless one runs or waits for its switch."""
        job = self.jobs.get(name)
        if job is not None and job.state in ("running", "ready"):
            return job
        [projection] = pick([name])
        job = self.jobs[name] = Job(name)
        rebuild = Rebuild(projection, ProjectorSettings(), keys=keys, registries=registries(),
                          progress=job.progress, switch=False)  # fmt: skip
        job.task = asyncio.create_task(self._run(job, rebuild))
        return job

    async def _run(self, job: Job, rebuild: Rebuild) -> None:
        try:
            result = await rebuild.run()
        except Exception as exc:
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            return
        job.version, job.previous, job.state = result.version, result.previous, "ready"
        await _mark_ready(job.name, result.version)

    async def recover(self) -> None:
        """Jobs of the versions the registry holds beyond the live ones (after a restart)."""
        settings = ProjectorSettings()
        for projection in pick(None):
            if projection.name in self.jobs:
                continue
            try:
                found = await _pending(settings.dsn(projection.database), projection.name)
            except (OSError, asyncpg.PostgresError):  # the database is away: nothing to show
                continue
            if found is not None:
                self.jobs[projection.name] = found

    async def switch(self, name: str) -> Job:
        """Make the rebuilt version live and drop the previous one."""
        job = self.jobs.get(name)
        if job is None or job.state != "ready" or job.version is None:
            raise LookupError(f"no rebuild of {name} waits for its switch")
        [projection] = pick([name])
        settings = ProjectorSettings()
        conn = await asyncpg.connect(settings.dsn(projection.database), timeout=10)
        try:
            readers = settings.readers.get(projection.database, [])
            job.previous = await versions.switch(conn, projection, job.version, readers)
            if job.previous is not None and job.previous != job.version:
                await versions.drop_version(conn, name, job.previous)
        finally:
            await conn.close()
        job.state = "switched"
        return job

    async def close(self) -> None:
        """Cancel rebuilds still running (their half-built versions are marked failed)."""
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
        await asyncio.gather(
            *(j.task for j in self.jobs.values() if j.task is not None), return_exceptions=True
        )


READY_NOTE = "caught up; waiting for its switch (console)"


async def _mark_ready(name: str, version: int) -> None:
    """Record in the registry that `version` is caught up and waits for its switch."""
    [projection] = pick([name])
    conn = await asyncpg.connect(ProjectorSettings().dsn(projection.database), timeout=10)
    try:
        await versions.mark(conn, name, version, "ready", READY_NOTE)
    finally:
        await conn.close()


async def _pending(dsn: str, name: str) -> Job | None:
    """The newest version beyond the live one that is ready or still building, as a job."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if not await conn.fetchval("SELECT to_regclass('projections.versions') IS NOT NULL"):
            return None
        found = await versions.versions(conn, name)
    finally:
        await conn.close()
    live = max((v.version for v in found if v.state == "live"), default=0)
    later = [v for v in found if v.version > live and v.state in ("ready", "building")]
    if not later:
        return None
    newest = later[-1]
    if newest.state == "ready":
        return Job(name, state="ready", phase="caught up", version=newest.version,
                   previous=live or None)  # fmt: skip
    return Job(name, state="elsewhere", phase="building outside this console",
               version=newest.version, previous=live or None)  # fmt: skip
