"""The event store's schema steps and its role's grants, applied by annals.migrations."""

from __future__ import annotations

from annals import migrations as runner
from annals.eventstore import schema
from annals.eventstore.settings import ServiceDatabase
from annals.migrations import Step
from annals.stack.settings import KEYS_READER

COMPONENT = "eventstore"

APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION eventstore.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'eventstore.events is append-only: % refused', TG_OP
        USING ERRCODE = 'ES004';
END
$fn$;
DROP TRIGGER IF EXISTS events_append_only ON eventstore.events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON eventstore.events
    FOR EACH ROW EXECUTE FUNCTION eventstore.refuse_event_change();
DROP TRIGGER IF EXISTS events_no_truncate ON eventstore.events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON eventstore.events
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore.refuse_event_change();
"""


# The only ways an application role changes stream metadata or subject keys
# (docs/rules.md#trust): owned by the database owner, SECURITY DEFINER with a pinned
# search_path, EXECUTE granted by grants_sql.
DEFINER_FUNCTIONS = """
CREATE OR REPLACE FUNCTION eventstore.set_stream_metadata(
    p_stream_id text, p_max_count integer, p_max_age interval) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    WITH changed AS (
        UPDATE eventstore.streams SET max_count = p_max_count, max_age = p_max_age,
               updated_at = now()
         WHERE stream_id = p_stream_id RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM changed)
$fn$;
CREATE OR REPLACE FUNCTION eventstore.tombstone_stream(p_stream_id text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    WITH changed AS (
        UPDATE eventstore.streams SET deleted_at = now(), updated_at = now()
         WHERE stream_id = p_stream_id AND deleted_at IS NULL RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM changed)
$fn$;
CREATE OR REPLACE FUNCTION eventstore.forget_subject(p_subject text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    INSERT INTO eventstore.subject_keys (subject, key, forgotten_at)
    VALUES (p_subject, NULL, now())
    ON CONFLICT (subject) DO UPDATE SET key = NULL, forgotten_at = now()
$fn$;
CREATE OR REPLACE FUNCTION eventstore.rewrap_keys(
    p_subjects text[], p_old bytea[], p_new bytea[]) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    WITH changed AS (
        UPDATE eventstore.subject_keys k SET key = n.new_key
          FROM unnest(p_subjects, p_old, p_new) AS n(subject, old_key, new_key)
         WHERE k.subject = n.subject AND k.key = n.old_key AND n.new_key IS NOT NULL
        RETURNING 1)
    SELECT count(*) FROM changed
$fn$;
REVOKE ALL ON FUNCTION eventstore.set_stream_metadata(text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore.tombstone_stream(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore.forget_subject(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION eventstore.rewrap_keys(text[], bytea[], bytea[]) FROM PUBLIC;
"""
DEFINERS = (
    "set_stream_metadata(text, integer, interval)",
    "tombstone_stream(text)",
    "forget_subject(text)",
    "rewrap_keys(text[], bytea[], bytea[])",
)


def _initial_tables() -> str:
    tables = [schema.streams, schema.events, schema.snapshots, schema.subject_keys]
    ddl = [f"CREATE SCHEMA IF NOT EXISTS {schema.SCHEMA}", *schema.create_ddl(*tables)]
    return ";\n".join(ddl) + ";"


# Numbered as the event store's former runner numbered them in eventstore.schema_migrations, so
# a database it migrated adopts them instead of running them again.
OLD_BOOKKEEPING = "eventstore.schema_migrations"
MIGRATIONS: tuple[Step, ...] = tuple(
    Step(COMPONENT, version, name, sql, recorded_in=OLD_BOOKKEEPING)
    for version, name, sql in (
        (1, "tables: streams, events, snapshots, subject_keys", _initial_tables),
        (2, "events are append-only (trigger)", APPEND_ONLY_TRIGGER),
        (3, "security-definer functions: stream metadata, tombstones, forget, rewrap",
         DEFINER_FUNCTIONS),
    )
)  # fmt: skip


# The Debezium outbox connectors (deploy/connect/*-outbox.json) read the events through it.
OUTBOX_PUBLICATION = "annals_outbox"
OUTBOX_PUBLICATION_SQL = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{OUTBOX_PUBLICATION}') THEN
        CREATE PUBLICATION {OUTBOX_PUBLICATION} FOR TABLE eventstore.events
            WITH (publish = 'insert');
    END IF;
END $$;
"""


def outbox_reader_grants_sql(reader_role: str) -> str:
    """The Debezium role, where it exists, may read the events table (and nothing else here)."""
    role = '"' + reader_role.replace('"', '""') + '"'
    literal = "'" + reader_role.replace("'", "''") + "'"
    return f"""
DO $do$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal}) THEN
        GRANT USAGE ON SCHEMA eventstore TO {role};
        GRANT SELECT ON eventstore.events TO {role};
    END IF;
END $do$;
"""


def grants_sql(app_role: str) -> str:
    """Least privilege for the service role; stream metadata and keys change via the definers."""
    role = '"' + app_role.replace('"', '""') + '"'
    definers = "\n".join(f"GRANT EXECUTE ON FUNCTION eventstore.{fn} TO {role};" for fn in DEFINERS)
    return f"""
REVOKE ALL ON ALL TABLES IN SCHEMA eventstore FROM PUBLIC;
GRANT USAGE ON SCHEMA eventstore TO {role};
REVOKE ALL ON eventstore.events FROM {role};
GRANT SELECT, INSERT ON eventstore.events TO {role};
REVOKE ALL ON eventstore.streams, eventstore.subject_keys FROM {role};
GRANT SELECT, INSERT ON eventstore.streams TO {role};
GRANT UPDATE (version, updated_at) ON eventstore.streams TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON eventstore.snapshots TO {role};
GRANT SELECT, INSERT ON eventstore.subject_keys TO {role};
{definers}
DO $do$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{KEYS_READER}') THEN
        GRANT USAGE ON SCHEMA eventstore TO {KEYS_READER};
        GRANT SELECT ON eventstore.subject_keys TO {KEYS_READER};
    END IF;
END $do$;
"""


async def migrate(owner_dsn: str, app_role: str | None = None) -> list[int]:
    """Apply the missing event store steps as the database owner; the versions applied."""
    always = [grants_sql(app_role)] if app_role else []
    return [step.version for step in await runner.migrate(owner_dsn, MIGRATIONS, always)]


async def migrate_service(service: str) -> list[int]:
    """`annals db migrate <service>`: migrate the service's database and grant its role."""
    settings = ServiceDatabase.for_service(service)
    return await migrate(settings.owner_dsn, settings.app_role)
