"""One migration runner: packages contribute ordered steps, each database keeps one bookkeeping.

The event store, messaging, a command service's own tables (`api`: idempotency keys, reactors'
causations, each declared service's steps), the projections' registry, the schema registry and
the legacy ERP each contribute `Step`s; `migrate`/`apply` run the missing ones in order under one
advisory lock per database and record them in `annals.migrations` (docs/migrations.md).
"""

from annals.migrations.postgres import PostgresSession, apply, check, forget, migrate
from annals.migrations.runner import MigrationFailed, Step, pending, run

__all__ = [
    "MigrationFailed", "PostgresSession", "Step", "apply", "check", "forget", "migrate",
    "pending", "run",
]  # fmt: skip
