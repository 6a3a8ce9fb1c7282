"""`serve|up|down` for one platform web process under supervisord (the console, the registry)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

if TYPE_CHECKING:
    from annals.web.launcher import ServiceSpec


def add_process_commands(
    group: typer.Typer,
    name: str,
    spec: Callable[[], ServiceSpec],
    *,
    prepare: Callable[[Any], None] | None = None,
    up_help: str = "",
    hint: str = "",
) -> None:
    """Add `serve`, `up` and `down` of the process `name` (built by `spec()`) to group.

    `spec` is called only when a command runs, so the CLI starts without importing the
    process's settings; `prepare(settings)` runs before the process starts (a migration, for
    example); `hint` follows the pid in the line `up` prints.
    """

    @group.command("serve", help=f"Run the {name} in the foreground.")
    def serve() -> None:
        from annals.web import launcher

        process = spec()
        args = launcher.uvicorn_args(process, process.settings())
        os.execv(args[0], args)

    @group.command(
        "up", help=up_help or f"Start the {name} under supervisord and wait until it answers."
    )
    def up(wait: float = 60.0) -> None:
        from annals.web import launcher

        process = spec()
        settings = process.settings()
        try:
            if prepare is not None:
                prepare(settings)
            pid = launcher.start(process, settings, StackSettings(), wait)
        except StackError as exc:
            typer.echo(f"error: {exc.line()}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{name} http://{settings.host}:{settings.port} (pid {pid}{hint})")

    @group.command("down", help=f"Stop the {name}.")
    def down() -> None:
        from annals.web import launcher

        stopped = launcher.stop(spec(), StackSettings())
        typer.echo(f"{name}: {'stopped' if stopped else 'not running'}")
