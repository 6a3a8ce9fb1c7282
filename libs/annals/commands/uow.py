"""A unit of work: one transaction in which event appends and a service's own rows commit together.

It is a Session of the service's Database (annals.eventstore.ports): the service's rows
(idempotency keys, email reservations) are written through it, and the executor appends through
its store bound to it (`store.bound_to(session)`), so both commit or roll back together. The
PostgreSQL adapter is annals.eventstore.database; annals.eventstore.memorydb keeps one in memory.
"""

from __future__ import annotations

from annals.eventstore.ports import Database, Session, TransactionalEventStore

UnitOfWork = Session

__all__ = ["Database", "Session", "TransactionalEventStore", "UnitOfWork"]
