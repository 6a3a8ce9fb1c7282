"""The runner's rules, written against a small session port (PostgreSQL or the in-memory fake).

- A step is identified by (component, version) and applied at most once per database: each runs
  in its own transaction holding the database's migration lock, which re-reads the bookkeeping
  first, so two processes migrating one database at once never both apply a step.
- A failing step rolls back alone (the steps before it stay applied and recorded) and is reported
  as MigrationFailed naming the database, the step and the cause.
- A step that an older runner applied (`recorded_in` names its bookkeeping table, which holds the
  same version number) is recorded as adopted, not run again.
- `always` statements (grants) run after the steps on every run, under the lock: roles may
  change between runs, and concurrent GRANTs on one object fail without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One numbered schema step of a component; `sql` is its text or builds it when it runs."""

    component: str
    version: int
    name: str
    sql: str | Callable[[], str]
    recorded_in: str | None = None  # an older runner's table of applied versions, if any

    @property
    def key(self) -> tuple[str, int]:
        """What the bookkeeping records."""
        return self.component, self.version

    def text(self) -> str:
        """The SQL to run."""
        return self.sql if isinstance(self.sql, str) else self.sql()

    def __str__(self) -> str:
        return f"{self.component} {self.version} ({self.name})"


class MigrationFailed(Exception):
    """A step (or the grants) failed; its transaction was rolled back."""

    def __init__(self, database: str, what: str, cause: BaseException) -> None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"{database}: migration {what} failed and was rolled back: {reason}")
        self.database, self.what, self.cause = database, what, cause


class Locked(Protocol):
    """A transaction holding the database's migration lock."""

    async def applied(self) -> set[tuple[str, int]]:
        """The (component, version) pairs recorded."""
        ...

    async def recorded_before(self, table: str, version: int) -> bool:
        """Whether an older runner's table records `version` (False when there is no table)."""
        ...

    async def execute(self, sql: str) -> None:
        """Run statements."""
        ...

    async def record(self, step: Step, adopted_from: str | None) -> None:
        """Record a step as applied."""
        ...


class Session(Protocol):
    """One database, as the role that migrates it."""

    database: str

    async def applied(self) -> set[tuple[str, int]]:
        """The recorded pairs, read without the lock (empty before the first run)."""
        ...

    async def recorded_before(self, table: str, version: int) -> bool:
        """Whether an older runner's table records `version`, read without the lock."""
        ...

    def locked(self) -> AbstractAsyncContextManager[Locked]:
        """A transaction holding the lock, the bookkeeping table created if missing."""
        ...


def ordered(steps: Sequence[Step]) -> list[Step]:
    """Components in the order they first appear, each one's steps by version; no duplicates."""
    first: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    for step in steps:
        if step.key in seen:
            raise ValueError(f"migration step {step.component} {step.version} is contributed twice")
        seen.add(step.key)
        first.setdefault(step.component, len(first))
    return sorted(steps, key=lambda s: (first[s.component], s.version))


async def pending(session: Session, steps: Sequence[Step]) -> list[Step]:
    """The steps not applied yet (by this runner or, for adopted ones, by an older one)."""
    done = await session.applied()
    missing = []
    for step in ordered(steps):
        if step.key in done:
            continue
        if step.recorded_in and await session.recorded_before(step.recorded_in, step.version):
            continue
        missing.append(step)
    return missing


async def run(session: Session, steps: Sequence[Step], always: Sequence[str] = ()) -> list[Step]:
    """Apply the missing steps in order, then `always`; the steps this call applied."""
    applied: list[Step] = []
    done = await session.applied()
    for step in ordered(steps):
        if step.key in done:
            continue
        async with session.locked() as tx:
            if step.key in await tx.applied():
                continue  # another process applied it while we waited for the lock
            if step.recorded_in and await tx.recorded_before(step.recorded_in, step.version):
                log.info(
                    "%s: migration %s adopted from %s", session.database, step, step.recorded_in
                )
                await tx.record(step, step.recorded_in)
                continue
            log.info("%s: migration %s", session.database, step)
            try:
                await tx.execute(step.text())
            except Exception as exc:
                raise MigrationFailed(session.database, f"step {step}", exc) from exc
            await tx.record(step, None)
        applied.append(step)
    if always:
        async with session.locked() as tx:
            for sql in always:
                try:
                    await tx.execute(sql)
                except Exception as exc:
                    raise MigrationFailed(session.database, "grants", exc) from exc
    return applied
