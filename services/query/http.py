"""JSON answers of the query API: ETag / If-None-Match (304), freshness and consistency headers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.responses import Response

from annals.eventstore.pool import Queries
from annals.web.problems import Problem
from query.consistency import Outcome, Token, parse_tokens

JSON = "application/json"
FRESHNESS_TTL = 0.2


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def etag_of(body: bytes) -> str:
    """A strong ETag of a representation."""
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def _matches(header: str | None, tag: str) -> bool:
    if header is None:
        return False
    wanted = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in wanted or tag in wanted


async def answer(
    request: Request,
    body: Any,
    projections: Sequence[str],
    outcome: Outcome | None = None,
    status: int = 200,
) -> Response:
    """The JSON answer with ETag, 304 on a matching If-None-Match, and freshness headers."""
    payload = json.dumps(body, default=_default, separators=(",", ":")).encode()
    tag = etag_of(payload)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    headers.update(await freshness(request, projections))
    if outcome is not None:
        headers.update(outcome.headers())
    if status == 200 and _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(payload, status, headers, media_type=JSON)


async def freshness(request: Request, projections: Sequence[str]) -> dict[str, str]:
    """`X-Read-Model: order_summary@v2; updated=<newest applied event time>` per projection."""
    found: Freshness = request.app.state.freshness
    parts = [await found.of(name) for name in projections]
    return {"X-Read-Model": ", ".join(parts)} if parts else {}


class Freshness:
    """Each projection's version and newest applied event time, per process.

    Looked up at most every FRESHNESS_TTL seconds per projection, not once per request: the
    requests that find it expired share one lookup (a busy loop would otherwise send one per
    request until the first answered).
    """

    def __init__(self, pool: Queries, schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self._known: dict[str, tuple[float, str]] = {}
        self._looking: dict[str, asyncio.Future[str]] = {}

    async def of(self, name: str) -> str:
        """`<name>@v<version>; updated=<time>` (`<name>@unknown` when not deployed yet)."""
        hit = self._known.get(name)
        if hit is not None and time.monotonic() - hit[0] < FRESHNESS_TTL:
            return hit[1]
        looking = self._looking.get(name)
        if looking is None:
            looking = self._looking[name] = asyncio.ensure_future(self._look(name))
            looking.add_done_callback(lambda done: self._done(name, done))
        # Shielded: one caller going away (its client left) does not cancel the others' lookup.
        return await asyncio.shield(looking)

    def _done(self, name: str, looked: asyncio.Future[str]) -> None:
        self._looking.pop(name, None)
        if not looked.cancelled():
            looked.exception()  # retrieved: its callers, if any are left, get it raised

    async def _look(self, name: str) -> str:
        now, schema = time.monotonic(), self.schema
        try:
            row = await self.pool.fetchrow(
                f'SELECT (SELECT version FROM "{schema}"."{name}__version"), '
                f'(SELECT max(last_event_at) FROM "{schema}"."{name}__offsets")'
            )
        except asyncpg.PostgresError:  # a projection not deployed yet answers as unknown
            return f"{name}@unknown"
        updated = "" if row[1] is None else f"; updated={row[1].isoformat()}"
        self._known[name] = (now, f"{name}@v{row[0]}{updated}")
        return self._known[name][1]


async def consistent(
    request: Request,
    projections: Sequence[str],
    wait: float | None,
    seen: Mapping[str, int] | None = None,
    tokens: Sequence[Token] | None = None,
) -> Outcome | None:
    """Wait for the request's consistency tokens (None without tokens); `seen`: versions a look
    of the one projection just read; `tokens`: the request's, when already parsed."""
    settings = request.app.state.settings
    tokens = request_tokens(request) if tokens is None else tokens
    if not tokens:
        return None
    timeout = settings.consistency_timeout if wait is None else wait
    timeout = max(0.0, min(timeout, settings.max_consistency_timeout))
    outcome: Outcome = await request.app.state.consistency.wait(tokens, projections, timeout, seen)
    return outcome


async def consistent_row(
    request: Request, projection: str, wait: float | None, sql: str, *args: object
) -> tuple[Outcome | None, Any]:
    """The consistency outcome and the row `sql` reads, in one round trip when fresh enough.

    Without tokens it is the row alone; with tokens already applied, one statement answers
    both (one snapshot); otherwise the usual wait (`consistent`), then the row.
    """
    pool = request.app.state.pool
    tokens = request_tokens(request)
    if not tokens:
        return None, await pool.fetchrow(sql, *args)
    consistency = request.app.state.consistency
    wanted = consistency.wanted(tokens, projection)
    looked = None
    if wanted:
        looked = await consistency.look_and_read(wanted, projection, sql, args)
        if looked is not None and looked.outcome is not None:
            return looked.outcome, looked.row
    seen = None if looked is None else looked.applied
    outcome = await consistent(request, [projection], wait, seen, tokens)
    return outcome, await pool.fetchrow(sql, *args)


def request_tokens(request: Request) -> list[Token]:
    """The request's consistency tokens (header and query parameter); 400 when malformed."""
    return parse_tokens(
        request.headers.get("x-consistency-token"), request.query_params.get("consistency")
    )


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque keyset cursor of sort-key values."""
    raw = json.dumps(list(values), default=_default, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The sort-key values of a cursor; 400 when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(values, list) or len(values) != size:
            raise ValueError("wrong size")
        return values
    except (ValueError, json.JSONDecodeError) as exc:
        raise Problem(
            400, "Malformed cursor", f"the cursor is not valid: {exc}", slug="malformed-cursor"
        ) from None


def not_found(kind: str, ident: str, outcome: Outcome | None) -> Problem:
    """A 404 problem that says how fresh the read model was."""
    headers: Mapping[str, str] = outcome.headers() if outcome is not None else {}
    return Problem(
        404,
        "Not found",
        f"{kind} {ident!r} is not in the read model",
        slug=f"{kind}-not-found",
        headers=headers,
    )
