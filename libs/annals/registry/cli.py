"""`annals registry serve|up|down`: the schema registry (annals.registry, :8081), a CLI plugin."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

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


@registry_app.command("serve")
def serve() -> None:
    """Run the registry in the foreground."""
    from annals.web import launcher

    spec = _spec()
    args = launcher.uvicorn_args(spec, spec.settings())
    os.execv(args[0], args)


@registry_app.command("up")
def up(wait: float = 60.0) -> None:
    """Migrate its database, start the registry under supervisord and wait until it answers."""
    from annals.registry.postgres import migrate
    from annals.web import launcher

    spec = _spec()
    settings = spec.settings()
    try:
        if getattr(settings, "storage", "postgres") == "postgres":
            migrate(settings.owner_dsn, settings.app_role)
        pid = launcher.start(spec, settings, StackSettings(), wait)
    except StackError as exc:
        typer.echo(f"error: {exc.line()}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"registry http://{settings.host}:{settings.port} (pid {pid})")


@registry_app.command("down")
def down() -> None:
    """Stop the registry."""
    from annals.web import launcher

    stopped = launcher.stop(_spec(), StackSettings())
    typer.echo(f"registry: {'stopped' if stopped else 'not running'}")
