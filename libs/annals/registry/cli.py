"""`annals registry serve|up|down`: the schema registry (annals.registry, :8081), a CLI plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from annals.cli.process_cmds import add_process_commands

if TYPE_CHECKING:
    from annals.web.launcher import ServiceSpec

registry_app = typer.Typer(help="The schema registry (Confluent API, uvicorn on :8081).",
                           no_args_is_help=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add `annals registry ...` to app (entry point annals.cli)."""
    app.add_typer(registry_app, name="registry")


def _spec() -> ServiceSpec:
    from annals.registry.settings import RegistrySettings
    from annals.web.launcher import ServiceSpec

    return ServiceSpec("registry", "annals.registry.app:create_app", RegistrySettings, (), ())


@registry_app.command("migrate")
def migrate_cmd() -> None:
    """Migrate the registry's database as its owner (ANNALS_REGISTRY_OWNER_DSN), then exit."""
    from annals.registry.settings import RegistrySettings

    _migrate(RegistrySettings())
    typer.echo("registry: database migrated")


def _migrate(settings: Any) -> None:
    """Migrate the registry's database when it stores in PostgreSQL."""
    from annals.migrations import MigrationFailed
    from annals.registry.postgres import migrate
    from annals.stack.errors import StackError

    if getattr(settings, "storage", "postgres") == "postgres":
        try:
            migrate(settings.owner_dsn, settings.app_role)
        except MigrationFailed as exc:
            raise StackError(
                "registry", str(exc), "fix the step or the database, then retry"
            ) from None


add_process_commands(
    registry_app,
    "registry",
    _spec,
    prepare=_migrate,
    up_help="Migrate its database, start the registry under supervisord and wait until it answers.",
)
