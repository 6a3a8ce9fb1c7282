"""`annals legacy migrate|simulate|import-customers`: the legacy ERP and the strangler path."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from annals.migrations import MigrationFailed
from annals.stack.settings import DATABASE_OWNERS, StackSettings

console = Console(highlight=False)
legacy_app = typer.Typer(help="The legacy ERP: schema, simulator, imports.", no_args_is_help=True)
DATABASE = "legacy_erp"


def register(app: typer.Typer) -> None:
    """Add `annals legacy ...` to app."""
    app.add_typer(legacy_app, name="legacy")


def legacy_dsn(settings: StackSettings | None = None) -> str:
    """DSN of the legacy application's own role (ANNALS_LEGACY_DSN overrides it)."""
    settings = settings or StackSettings()
    return os.environ.get("ANNALS_LEGACY_DSN") or settings.dsn(DATABASE, DATABASE_OWNERS[DATABASE])


def prepare(stack: StackSettings) -> str:
    """`annals platform up`'s step for this source: the schema, then the Debezium connector."""
    from annals.connect.client import ConnectClient
    from annals.connect.configs import deploy_dir, load_spec
    from legacy.schema import migrate

    async def schema() -> None:
        conn = await asyncpg.connect(legacy_dsn(stack))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(schema())
    with ConnectClient(stack.connect_url) as client:
        client.apply(load_spec(deploy_dir(stack) / "legacy-erp.json", stack))
    return "legacy ERP schema and the legacy-erp Debezium connector"


def _error(message: str) -> None:
    console.print(f"[red]error[/red] {message}", soft_wrap=True)
    raise typer.Exit(1)


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except (OSError, TimeoutError) as error:
        _error(f"legacy database unreachable ({error or 'timeout'}): is the stack up?")
        raise
    except asyncpg.PostgresError as error:
        _error(f"cannot connect to the legacy database: {error}")
        raise


@legacy_app.command()
def migrate(
    schema: Annotated[str, typer.Option(help="schema of the legacy tables")] = "public",
) -> None:
    """Create or update the legacy tables, their replica identity, grants and the publication."""
    from legacy.schema import LegacySchema, migrate

    async def run() -> None:
        conn = await _connect(legacy_dsn())
        try:
            await migrate(conn, LegacySchema(schema=schema))
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except (asyncpg.PostgresError, MigrationFailed) as error:
        _error(f"migration failed: {error}")
    console.print(f"[green]✓[/green] legacy schema {schema!r} up to date in {DATABASE}")


@legacy_app.command()
def simulate(
    rate: Annotated[float, typer.Option(help="row changes per second (0: flat out)")] = 50,
    duration: Annotated[float, typer.Option(help="seconds to run")] = 60,
    seed: Annotated[int, typer.Option(help="seed of the random choices")] = 7,
    schema_change_at: Annotated[
        float | None,
        typer.Option(help="seconds into the run to add a column to products (a schema change)"),
    ] = None,
    schema: Annotated[str, typer.Option(help="schema of the legacy tables")] = "public",
) -> None:
    """Insert, update and delete like the legacy application (migrates the schema first)."""
    from legacy.schema import LegacySchema, migrate
    from legacy.simulator import Simulator, Summary

    where = LegacySchema(schema=schema)

    async def run() -> Summary:
        conn = await _connect(legacy_dsn())
        try:
            await migrate(conn, where)
            return await Simulator(conn, where, seed=seed).run(
                rate=rate, duration=duration, schema_change_at=schema_change_at
            )
        finally:
            await conn.close()

    try:
        summary = asyncio.run(run())
    except asyncpg.PostgresError as error:
        _error(f"simulation stopped: {error}")
        return
    except KeyboardInterrupt:
        _error("interrupted")
        return
    table = Table(title=f"legacy simulation (seed {seed})")
    table.add_column("table")
    table.add_column("changes", justify="right")
    for name, count in sorted(summary.by_table.items()):
        table.add_row(name, str(count))
    console.print(table)
    ops = ", ".join(f"{op}={n}" for op, n in sorted(summary.by_op.items()))
    console.print(
        f"{summary.changes} changes in {summary.transactions} transactions, "
        f"{summary.elapsed:.1f}s ({summary.rate:.1f}/s); {ops}"
    )
    if summary.schema_changed_at is not None:
        console.print(f"schema change (products.weight_kg) at {summary.schema_changed_at:.1f}s")


@legacy_app.command("import-customers")
def import_customers(
    schema: Annotated[str, typer.Option(help="schema of the legacy tables")] = "public",
) -> None:
    """Register every legacy customer in the customer service (idempotent: re-runs skip)."""
    from annals.commands.storage import DatabaseNotReady
    from legacy.import_customers import CustomerImporter, ImportReport, open_customers_store
    from legacy.schema import LegacySchema

    async def run() -> ImportReport:
        store = await open_customers_store()
        try:
            conn = await _connect(legacy_dsn())
            try:
                return await CustomerImporter(store).run(
                    conn,
                    LegacySchema(schema=schema),
                    progress=lambda r: console.print(f"  … {r.seen} legacy customers read"),
                )
            finally:
                await conn.close()
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except DatabaseNotReady as error:
        _error(str(error))
        return
    except asyncpg.PostgresError as error:
        _error(f"import stopped: {error}")
        return
    console.print(
        f"[green]✓[/green] {report.imported} imported, {report.already} already imported, "
        f"{len(report.rejected)} rejected (of {report.seen} legacy customers)"
    )
    for note, count in sorted(report.notes.items()):
        console.print(f"  note: {note}: {count}")
    if report.rejected:
        table = Table(title="rejected legacy customers (first 20)")
        table.add_column("legacy_id", justify="right")
        table.add_column("reason")
        for legacy_id, reason in report.rejected[:20]:
            table.add_row(str(legacy_id), reason)
        console.print(table)
