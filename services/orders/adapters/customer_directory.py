"""The customer directory: the order service's replica of customer status (docs/rules.md#delivery).

The `customer_status` projection (services/projector) keeps `customer_directory.customer_status`
in the orders database from `customers.events`. PlaceOrder refuses unknown and deactivated
customers with 422. The replica follows the customer service by milliseconds, so an unknown
customer is looked up again for a short, bounded while before the command is refused.
Inside a unit of work (a command with an Idempotency-Key) the lookups run on its connection
(`on=`), never on a second pooled one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import asyncpg

from annals.commands.errors import RuleBroken

log = logging.getLogger(__name__)
STATUS = "SELECT status FROM customer_directory.customer_status WHERE customer_id = $1"
INSTALLED = "SELECT to_regclass('customer_directory.customer_status') IS NOT NULL"
ALLOWED = frozenset({"active"})
RECHECK = 30.0  # seconds between looks for a missing replica


class Queries(Protocol):
    """What the directory needs of a pool."""

    async def fetchval(self, query: str, *args: Any) -> Any:
        """One value."""
        ...


class CustomerDirectory:
    """Answers whether a customer may place orders, from the replica in the orders database."""

    def __init__(self, pool: Queries, *, wait_unknown: float = 1.0, poll: float = 0.02) -> None:
        self.pool = pool
        self.wait_unknown = wait_unknown
        self.poll = poll
        self._installed = False
        self._checked = -RECHECK

    async def installed(self, on: Queries | None = None) -> bool:
        """Whether the replica exists in this database (the projector has run against it)."""
        if not self._installed and time.monotonic() - self._checked >= RECHECK:
            self._checked = time.monotonic()
            self._installed = bool(await (on or self.pool).fetchval(INSTALLED))
            if not self._installed:
                log.warning("customer_directory.customer_status is missing: customers unchecked")
        return self._installed

    async def status(self, customer_id: str, on: Queries | None = None) -> str | None:
        """The customer's status in the replica (None: unknown)."""
        try:
            found = await (on or self.pool).fetchval(STATUS, customer_id)
        except asyncpg.UndefinedTableError:
            self._installed = False
            return None
        return None if found is None else str(found)

    async def check(self, customer_id: str, on: Queries | None = None) -> None:
        """Raise RuleBroken (422) unless the customer exists and is active (queried `on`)."""
        if not await self.installed(on):
            return
        deadline = time.monotonic() + self.wait_unknown
        status = await self.status(customer_id, on)
        while status is None and time.monotonic() < deadline:
            await asyncio.sleep(self.poll)
            status = await self.status(customer_id, on)
        if status is None:
            raise RuleBroken(
                "customer-unknown", f"customer {customer_id!r} is not known", "customer_id"
            )
        if status not in ALLOWED:
            raise RuleBroken(
                "customer-inactive", f"customer {customer_id!r} is {status}", "customer_id"
            )
