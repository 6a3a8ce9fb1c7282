"""`annals console serve|up|down|open`: the web console (annals.console, :8004)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from annals.cli.process_cmds import add_process_commands

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


add_process_commands(console_app, "console", _spec, hint="; annals console --open")


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
