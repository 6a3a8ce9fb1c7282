"""`annals console serve|up|down|open`: the web console (annals.console, :8004)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

if TYPE_CHECKING:
    from annals.web.launcher import ServiceSpec

console_app = typer.Typer(help="The web console (uvicorn on :8004).", invoke_without_command=True)


def register(app: typer.Typer) -> None:
    """Add `annals console ...` to app."""
    app.add_typer(console_app, name="console")


@console_app.callback()
def main(
    ctx: typer.Context,
    open_url: Annotated[bool, typer.Option("--open", help="print a sign-in URL")] = False,
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s")] = None,
) -> None:
    """The web console: `annals console --open [-s read]` prints a local sign-in URL."""
    if open_url:
        open_(scope)
    elif ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _spec() -> ServiceSpec:
    from annals.console.settings import ConsoleSettings
    from annals.web.launcher import ServiceSpec

    return ServiceSpec("console", "annals.console.app:create_app", ConsoleSettings, (), ())


@console_app.command("serve")
def serve() -> None:
    """Run the console in the foreground."""
    from annals.web import launcher

    spec = _spec()
    args = launcher.uvicorn_args(spec, spec.settings())
    os.execv(args[0], args)


@console_app.command("up")
def up(wait: float = 60.0) -> None:
    """Start the console under supervisord and wait until it answers."""
    from annals.web import launcher

    spec = _spec()
    settings = spec.settings()
    try:
        pid = launcher.start(spec, settings, StackSettings(), wait)
    except StackError as exc:
        typer.echo(f"error: {exc.line()}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"console http://{settings.host}:{settings.port} (pid {pid}; annals console --open)")


@console_app.command("down")
def down() -> None:
    """Stop the console."""
    from annals.web import launcher

    stopped = launcher.stop(_spec(), StackSettings())
    typer.echo(f"console: {'stopped' if stopped else 'not running'}")


@console_app.command("open")
def open_(
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s")] = None,
) -> None:
    """Print a local URL that signs in with a short-lived token (default scope: admin)."""
    from annals.console.settings import AUDIENCE, ConsoleSettings
    from annals.web.auth import mint_token

    settings = ConsoleSettings()
    token = mint_token(
        settings, scope or ["admin"], subject="console", ttl_seconds=settings.signin_ttl,
        audience=AUDIENCE,
    )  # fmt: skip
    typer.echo(f"http://{settings.host}:{settings.port}/signin?token={token}")
