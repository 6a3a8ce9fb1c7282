"""A command service's own tables (schema `api`): numbered steps, the idempotency keys' table.

Pure data and one statement run through a unit of work; storage.py migrates the steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from annals.commands.uow import UnitOfWork

SCHEMA = "api"

IDEMPOTENCY_TABLE = """
CREATE TABLE IF NOT EXISTS api.idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status int NOT NULL DEFAULT 0,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    body text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON api.idempotency_keys (created_at);
"""


@dataclass(frozen=True)
class TableStep:
    """One numbered step of a service's own schema (`api`); `{app}` names the service role."""

    version: int
    name: str
    sql: str


# Responses are kept as status, headers, aggregate and version, never as a body: the body is
# rendered again for whoever replays (masked without read:pii), so no plaintext copy of personal
# data sits here. Rows from before lose their bodies; the consistency token header names the
# stream and version they answered with, which is all a replay needs.
IDEMPOTENCY_RESPONSES = """
ALTER TABLE api.idempotency_keys
    ADD COLUMN IF NOT EXISTS aggregate_id text, ADD COLUMN IF NOT EXISTS version int;
UPDATE api.idempotency_keys
   SET version = split_part(headers->>'x-consistency-token', '@', 2)::int,
       aggregate_id = substring(split_part(headers->>'x-consistency-token', '@', 1)
                                FROM position('-' IN headers->>'x-consistency-token') + 1)
 WHERE headers->>'x-consistency-token' ~ '^[^@-]+-[^@]+@[0-9]{1,9}$';
DELETE FROM api.idempotency_keys WHERE status <> 0 AND version IS NULL;
ALTER TABLE api.idempotency_keys DROP COLUMN IF EXISTS body;
CREATE INDEX IF NOT EXISTS idempotency_keys_aggregate_idx ON api.idempotency_keys (aggregate_id);
"""
IDEMPOTENCY_STEP = TableStep(1, "idempotency keys", IDEMPOTENCY_TABLE)
# Library steps of the `api` schema after the first are numbered from 100 (services use 2-99).
IDEMPOTENCY_STEPS = (
    IDEMPOTENCY_STEP,
    TableStep(100, "idempotency responses without bodies", IDEMPOTENCY_RESPONSES),
)
# Forget: the subject's stored responses become tombstones (a replay answers 410, it does not run
# the command again); rows still being claimed (status 0) are saved by their own request.
FORGET_RESPONSES = """
UPDATE api.idempotency_keys
   SET status = 410, headers = '{}', aggregate_id = NULL, version = NULL, request_hash = ''
 WHERE aggregate_id = $1 AND status <> 0
"""
IDEMPOTENCY_GRANT = "GRANT SELECT, INSERT, UPDATE, DELETE ON api.idempotency_keys TO {app};"


async def forget_responses(uow: UnitOfWork, aggregate_id: str) -> None:
    """Wipe the stored idempotent responses of an aggregate (in the Forget's transaction)."""
    await uow.execute(FORGET_RESPONSES, aggregate_id)
