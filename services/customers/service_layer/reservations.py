"""Email uniqueness among active customers: a reservation row written in the append transaction."""

from __future__ import annotations

import hashlib

import asyncpg

from annals.commands.errors import RuleBroken
from annals.commands.storage import TableStep
from customers.domain.customer import CustomerState, reserved_email

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
RESERVE = (
    "INSERT INTO api.email_reservations (email_hash, customer_id) VALUES ($1, $2) "
    "ON CONFLICT (email_hash) DO NOTHING RETURNING 1"
)


def email_hash(email: str) -> str:
    """What the reservation stores: a hash of the normalized email, not the email itself."""
    return hashlib.sha256(email.encode()).hexdigest()


async def update_reservation(
    conn: asyncpg.Connection, before: CustomerState, after: CustomerState
) -> None:
    """Release and take reservations so they follow the new state (RuleBroken if taken)."""
    old, new = reserved_email(before), reserved_email(after)
    if old == new:
        return
    await conn.execute(RELEASE, after.customer_id)
    if new is not None:
        taken = await conn.fetchval(RESERVE, email_hash(new), after.customer_id) is None
        if taken:
            raise RuleBroken(
                "email-unique", "this email belongs to another active customer", "email"
            )
