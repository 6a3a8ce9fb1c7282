"""Split stores (`annals stack up --split-stores`): each event store on a PostgreSQL server of
its own, as in production (docs/rules.md#ordering: a snapshot's xmin is server-wide, so a long
transaction elsewhere never holds a store's readers back).

The main server keeps the other databases (legacy, read models); store `<db>` lives in
.stack/stores/<db>/ (data, log) on `settings.pg_port_of(db)`, with the same roles and secrets, and
its outbox connector's replication slot on that server. `StackSettings.dsn()` routes by database,
so services, relays, projectors and connectors find their store without being told. The folder
.stack/stores/ records the choice: later commands on the same .stack/ see the split by themselves.
"""

from __future__ import annotations

from annals.stack import postgres
from annals.stack.secrets import secrets_dir
from annals.stack.settings import DATABASE_OWNERS, STORE_DATABASES, StackSettings

STORE_SHARED_BUFFERS = "128MB"


def store_databases(settings: StackSettings) -> tuple[str, ...]:
    """The databases on servers of their own (none unless the stores are split)."""
    return STORE_DATABASES if settings.split_stores else ()


def main_databases(settings: StackSettings) -> list[str]:
    """The databases of the main server."""
    split = store_databases(settings)
    return [database for database in DATABASE_OWNERS if database not in split]


def server(settings: StackSettings, database: str) -> StackSettings:
    """Settings whose PostgreSQL is the server of store `database`."""
    return settings.model_copy(
        update={
            "dir": settings.dir / "stores" / database,
            "secrets_dir": secrets_dir(settings),
            "pg_port": settings.pg_port_of(database),
            "pg_split_stores": False,
            "pg_shared_buffers": STORE_SHARED_BUFFERS,
        }
    )


def component(database: str) -> str:
    """The name `annals stack status` gives a store's server."""
    return f"postgres-{database}"


def up(settings: StackSettings, database: str) -> None:
    """initdb (once), start and bootstrap the server of store `database`."""
    own = server(settings, database)
    own.dir.mkdir(parents=True, exist_ok=True)
    if not postgres.check_data_dir(own):
        postgres.initdb(own)
    if not postgres.is_running(own):
        postgres.write_config(own)
        postgres.start(own)
    postgres.bootstrap(own, [database])


def stop(settings: StackSettings, database: str) -> bool:
    """Stop the server of store `database` (fast shutdown); True when it was running."""
    own = server(settings, database)
    return postgres.data_dir(own).exists() and postgres.stop(own)


def running(settings: StackSettings, database: str) -> bool:
    """True when the server of store `database` runs."""
    own = server(settings, database)
    return postgres.data_dir(own).exists() and postgres.is_running(own)
