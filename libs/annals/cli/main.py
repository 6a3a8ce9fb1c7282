"""Entry point of the `annals` command: each area registers its own sub-commands."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from annals.cli import (
    asyncapi_cmds,
    catalog_cmds,
    connectors_cmds,
    console_cmds,
    demo_cmds,
    dlq_cmds,
    eventstore_cmds,
    helm_cmds,
    new_cmds,
    privacy_cmds,
    projections_cmds,
    publish_cmds,
    schemas_cmds,
    services_cmds,
    stack_cmds,
    tail_cmds,
    token_cmds,
    topics_cmds,
)
from annals.collector import InvalidThreshold, tune_collector
from annals.stack.settings import StackSettings
from annals.topology.loader import command_plugins

app = typer.Typer(
    name="annals",
    help="Annals: event stores, Kafka, CDC and projections. Run `annals stack up` to start.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    traces: Annotated[
        bool,
        typer.Option(
            "--traces",
            help="the processes this command starts write their spans to "
            ".stack/logs/traces.jsonl (ANNALS_TRACES_FILE)",
        ),
    ] = False,
) -> None:
    """Annals: event stores, Kafka, CDC and projections."""
    if traces:
        os.environ.setdefault("ANNALS_TRACES_FILE", str(StackSettings().logs_dir / "traces.jsonl"))


stack_cmds.register(app)
eventstore_cmds.register(app)
connectors_cmds.register(app)
publish_cmds.register(app)
topics_cmds.register(app)
tail_cmds.register(app)
schemas_cmds.register(app)
token_cmds.register(app)
services_cmds.register(app)
projections_cmds.register(app)
dlq_cmds.register(app)
demo_cmds.register(app)
console_cmds.register(app)
privacy_cmds.register(app)
helm_cmds.register(app)
new_cmds.register(app)
asyncapi_cmds.register(app)
catalog_cmds.register(app)
# Commands of the platform's packages (`annals legacy`, `annals demo`): entry points annals.cli.
for register in command_plugins():
    register(app)


def run() -> None:
    """The `annals` program: its process's collector settings (annals.collector), then the command.

    Not in the callback: a command invoked inside another process (a test's CliRunner) leaves
    that process's collector alone.
    """
    try:
        tune_collector()
    except InvalidThreshold as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
