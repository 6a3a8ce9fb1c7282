"""The append statement: one SQL statement (CTEs) per expected-version form, no plpgsql.

Parameters: $1 stream id, $2 stream type, $3..$7 the event ids, types, schema versions, data
and metadata (JSON text), and $8 the expected version (exact form only). A batch passes arrays;
a single event passes scalars, which saves the server the array decoding and `unnest` (about a
tenth of the append rate at 8 writers). The statement returns one row per event; no row means
the stream was not in the expected state.
"""

from __future__ import annotations

from annals.eventstore.subscription import CHANNEL

_N = "cardinality($3::uuid[])"
# Ordering: the stream CTE runs first and its UPDATE (or upsert) locks the stream's row until
# commit, so two appends to one stream are serialized and each sees the other's version: event
# versions have no gaps and no duplicates. The events' INSERT reads the new version from the
# CTE, never from the events table. Appends to different streams do not wait for each other.
_STREAM = {  # templates: {n} is the number of events
    # n > 0: exactly at version $8
    "exact": """
    UPDATE eventstore.streams SET version = version + {n}, updated_at = now()
     WHERE stream_id = $1 AND version = $8 AND deleted_at IS NULL AND stream_type = $2
    RETURNING version, stream_type""",
    # 0: the stream must not exist
    "none": """
    INSERT INTO eventstore.streams (stream_id, stream_type, version) VALUES ($1, $2, {n})
    ON CONFLICT (stream_id) DO NOTHING RETURNING version, stream_type""",
    # -1: any state but deleted
    "any": """
    INSERT INTO eventstore.streams AS s (stream_id, stream_type, version) VALUES ($1, $2, {n})
    ON CONFLICT (stream_id) DO UPDATE SET version = s.version + {n}, updated_at = now()
     WHERE s.deleted_at IS NULL AND s.stream_type = $2
    RETURNING version, stream_type""",
    # -2: the stream must exist
    "exists": """
    UPDATE eventstore.streams SET version = version + {n}, updated_at = now()
     WHERE stream_id = $1 AND deleted_at IS NULL AND stream_type = $2
    RETURNING version, stream_type""",
}
_INSERT_BATCH = """
INSERT INTO eventstore.events
    (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
SELECT $1, s.stream_type, s.version - {n} + u.ord::int, u.id, u.typ, u.sv,
       u.dat::jsonb, u.meta::jsonb
  FROM s, unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[])
       WITH ORDINALITY AS u(id, typ, sv, dat, meta, ord){notify}
RETURNING version, global_position
"""
_INSERT_ONE = """
INSERT INTO eventstore.events
    (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
SELECT $1, s.stream_type, s.version, $3::uuid, $4::text, $5::int, $6::jsonb, $7::jsonb
  FROM s{notify}
RETURNING version, global_position
"""
_NOTIFY = f", LATERAL (SELECT pg_notify('{CHANNEL}', '')) AS wake"


def append_sql(kind: str, notify: bool, single: bool = False) -> str:
    """The append statement of one expected-version kind, for one event or a batch."""
    n, insert = ("1", _INSERT_ONE) if single else (_N, _INSERT_BATCH)
    stream = _STREAM[kind].format(n=n)
    return f"WITH s AS ({stream})\n{insert.format(n=n, notify=_NOTIFY if notify else '')}"


APPEND_SQL: dict[tuple[str, bool, bool], str] = {
    (kind, notify, single): append_sql(kind, notify, single)
    for kind in _STREAM
    for notify in (False, True)
    for single in (False, True)
}
