"""`annals schemas export|check`: JSON Schemas of the event models in schemas/<service>/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from annals.schemas.catalog import event_models
from annals.schemas.check import Report, compare
from annals.stack.settings import REPO_ROOT

console = Console(highlight=False, soft_wrap=True)
schemas_app = typer.Typer(help="Export and check the events' JSON Schemas.", no_args_is_help=True)
Root = Annotated[Path, typer.Option("--root", help="the schemas/ folder")]
DEFAULT_ROOT = REPO_ROOT / "schemas"


def register(app: typer.Typer) -> None:
    """Add `annals schemas ...` to app."""
    app.add_typer(schemas_app, name="schemas")


def _print_incompatible(report: Report) -> None:
    for line in report.incompatible:
        console.print(f"[red]incompatible[/red] {line}")


@schemas_app.command()
def export(root: Root = DEFAULT_ROOT) -> None:
    """Write schemas/<service>/<Event>.v<N>.json of every event model (refuses incompatible)."""
    report = compare(root, event_models(), write=True)
    for path in report.written:
        console.print(f"[green]wrote[/green] {path.relative_to(root.parent)}")
    _print_incompatible(report)
    for line in report.drift:
        console.print(f"[yellow]drift[/yellow] {line}")
    if report.incompatible:
        raise typer.Exit(1)
    if not report.written:
        console.print("schemas are up to date")


@schemas_app.command()
def check(root: Root = DEFAULT_ROOT) -> None:
    """Fail on drift between the models and schemas/, and on incompatible changes of a version."""
    report = compare(root, event_models())
    _print_incompatible(report)
    for line in report.drift:
        console.print(f"[yellow]drift[/yellow] {line} (run `annals schemas export`)")
    if not report.ok:
        raise typer.Exit(1)
    console.print("schemas match the event models")


@schemas_app.command("register")
def register_cmd(
    root: Root = DEFAULT_ROOT,
    url: Annotated[
        str, typer.Option("--url", envvar="ANNALS_REGISTRY_URL", help="the schema registry")
    ] = "http://127.0.0.1:8081",
    token: Annotated[
        str,
        typer.Option(
            envvar="ANNALS_REGISTRY_ADMIN_TOKEN",
            help="an admin token of audience registry (default: one signed with ANNALS_JWT_SECRET)",
        ),
    ] = "",
) -> None:
    """Register every schema under `<topic>-<Type>.v<N>` (an admin token; 409: refused)."""
    import httpx

    from annals.registry.settings import RegistrySettings
    from annals.schemas.publish import register_all
    from annals.web.auth import mint_token

    token = token or mint_token(RegistrySettings(), ["admin"], audience="registry", ttl_seconds=300)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        done = register_all(client, root)
    for line in done.refused:
        console.print(f"[red]refused[/red] {line}")
    console.print(f"{len(done.ids)} schemas registered at {url}")
    if done.refused:
        raise typer.Exit(1)
