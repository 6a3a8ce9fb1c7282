"""Email uniqueness among active customers: a reservation row written in the append transaction.

The row holds an HMAC of the normalized email under a key kept outside the database (derived
from the master keys, see annals.eventstore.blindindex), never a value computable from the email
alone. A lookup matches under every configured key, so uniqueness holds while keys rotate;
`rekey_reservations` (run when the service starts) moves rows made under an older key, or the
unkeyed sha256 of earlier releases, to the current key by reading the customer's email again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from annals.commands.errors import RuleBroken
from annals.commands.tables import TableStep
from annals.commands.uow import UnitOfWork
from annals.eventstore.blindindex import BlindIndex, configured_index
from annals.eventstore.ports import Database
from customers.domain.customer import CustomerState, reserved_email

log = logging.getLogger(__name__)
PURPOSE = "email-reservation"
RESERVATIONS_STEP = TableStep(
    2,
    "email reservations",
    """
CREATE TABLE IF NOT EXISTS api.email_reservations (
    email_hash text PRIMARY KEY,
    customer_id text NOT NULL UNIQUE,
    reserved_at timestamptz NOT NULL DEFAULT now()
);
""",
)
RESERVATIONS_GRANT = "GRANT SELECT, INSERT, DELETE ON api.email_reservations TO {app};"
RELEASE = "DELETE FROM api.email_reservations WHERE customer_id = $1"
HELD = "SELECT 1 FROM api.email_reservations WHERE email_hash = ANY($1::text[]) LIMIT 1"
RESERVE = (
    "INSERT INTO api.email_reservations (email_hash, customer_id) VALUES ($1, $2) "
    "ON CONFLICT (email_hash) DO NOTHING RETURNING 1"
)
STALE = (
    "SELECT email_hash, customer_id FROM api.email_reservations "
    "WHERE left(email_hash, length($1)) <> $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3"
)
DROP_STALE = "DELETE FROM api.email_reservations WHERE customer_id = $1 AND email_hash = $2"
StateOf = Callable[[str], Awaitable[CustomerState]]
TAKEN = ("email-unique", "this email belongs to another active customer", "email")


class Reservations(Protocol):
    """The email reservations, updated in the append's unit of work (the executor's hook)."""

    async def __call__(self, uow: UnitOfWork, before: CustomerState, after: CustomerState) -> None:
        """Release and take reservations so they follow the new state (RuleBroken if taken)."""
        ...


class Execute(Protocol):
    """What the reservation statements run on: a session or a connection."""

    async def execute(self, query: str, *args: Any) -> str:
        """The statement's status."""
        ...

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value."""
        ...


class MemoryReservations:
    """Reservations in a dict (handler tests without a database); not rolled back."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    async def __call__(self, uow: UnitOfWork, before: CustomerState, after: CustomerState) -> None:
        """Follow the new state: release the old email, take the new one (RuleBroken if held)."""
        old, new = reserved_email(before), reserved_email(after)
        if old == new:
            return
        self.held = {email: cid for email, cid in self.held.items() if cid != after.customer_id}
        if new is not None:
            if self.held.get(new, after.customer_id) != after.customer_id:
                raise RuleBroken(*TAKEN)
            self.held[new] = after.customer_id


def reservation_index() -> BlindIndex:
    """The keyed hash of the reservations (from the master keys or the stack secret)."""
    return configured_index(PURPOSE)


async def update_reservation(uow: Execute, before: CustomerState, after: CustomerState) -> None:
    """Release and take reservations so they follow the new state (RuleBroken if taken)."""
    old, new = reserved_email(before), reserved_email(after)
    if old == new:
        return
    await uow.execute(RELEASE, after.customer_id)
    if new is not None:
        await reserve(uow, reservation_index(), new, after.customer_id)


async def reserve(uow: Execute, index: BlindIndex, email: str, customer_id: str) -> None:
    """Reserve `email` for the customer under the current key (RuleBroken if held under any)."""
    held = await uow.fetchval(HELD, index.candidates(email)[1:])
    if held is not None or await uow.fetchval(RESERVE, index.mac(email), customer_id) is None:
        raise RuleBroken(*TAKEN)


async def rekey_reservations(
    database: Database, state_of: StateOf, index: BlindIndex, page: int = 500
) -> int:
    """Move reservations not under the current key to it; return how many rows were re-made."""
    prefix, after, moved = f"{index.current}:", "", 0
    while rows := await database.fetch(STALE, prefix, after, page):
        for stored, customer_id in rows:
            email = reserved_email(await state_of(customer_id))
            async with database.transaction() as uow:
                if await uow.execute(DROP_STALE, customer_id, stored) == "DELETE 1" and email:
                    await uow.execute(RESERVE, index.mac(email), customer_id)
                    moved += 1
        after = rows[-1][1]
    if moved:
        log.info("re-keyed %d email reservations under key %s", moved, index.current)
    return moved
