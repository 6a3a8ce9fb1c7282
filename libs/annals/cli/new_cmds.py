"""`annals new service|projection <name>`: a working, tested starting point from the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from annals.scaffold import generate
from annals.stack.settings import REPO_ROOT

console = Console(highlight=False, soft_wrap=True)
new_app = typer.Typer(
    help="Make a service or a projection from the templates.", no_args_is_help=True
)
Into = Annotated[Path, typer.Option("--into", help="the project (services/ and tests/ go in it)")]


def register(app: typer.Typer) -> None:
    """Add `annals new ...` to app."""
    app.add_typer(new_app, name="new")


@new_app.command()
def service(
    name: str,
    into: Into = REPO_ROOT,
    port: Annotated[int, typer.Option(help="its HTTP port")] = 8020,
    kind: Annotated[str, typer.Option(help="the aggregate's kind (default: the package)")] = "",
) -> None:
    """A command service: domain, handlers, routes, declaration and unit tests."""
    generate("service", name, into, {"port": port, **({"kind": kind} if kind else {})})
    package = name.replace("-", "_")
    console.print(
        f"[green]made[/green] services/{package} and tests/unit/{package}_service in {into}"
    )
    console.print(f"next: declare it as services/{package}/README.md says")


@new_app.command()
def projection(
    name: str,
    into: Into = REPO_ROOT,
    topic: Annotated[str, typer.Option(help="the topic it reads")] = "orders.events",
    event_type: Annotated[
        str, typer.Option(help="the event type it applies")
    ] = "orders.OrderPlaced",
) -> None:
    """A read model of one topic: its table, handler, declaration and unit test."""
    generate("projection", name, into, {"topic": topic, "event_type": event_type})
    console.print(f"[green]made[/green] services/projector/{name}.py and its test in {into}")
    console.print(f"next: declare it as services/projector/{name}.README.md says")
