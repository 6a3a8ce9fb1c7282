"""`annals helm`: the Kubernetes chart's topology values and its offline checks (make lint)."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from rich.console import Console

helm_app = typer.Typer(
    help="The Helm chart deploy/helm/annals: its topology values, rendering and validation.",
    no_args_is_help=True,
)
console = Console()


def register(app: typer.Typer) -> None:
    """Add `annals helm` to the CLI."""
    app.add_typer(helm_app, name="helm")


@helm_app.command("topology")
def topology_cmd(
    check: Annotated[
        bool, typer.Option("--check", help="fail if topology.yaml differs; write nothing")
    ] = False,
) -> None:
    """Write deploy/helm/annals/topology.yaml from the declared topology."""
    from annals.deploy import chart

    if check:
        current = chart.TOPOLOGY_FILE.exists() and chart.TOPOLOGY_FILE.read_text()
        if current != chart.render():
            console.print("[red]✗[/red] topology.yaml is stale: run `annals helm topology`")
            raise typer.Exit(1)
        console.print("[green]✓[/green] topology.yaml matches the declared topology")
        return
    changed = chart.write()
    console.print(f"[green]✓[/green] {chart.TOPOLOGY_FILE} {'written' if changed else 'unchanged'}")


@helm_app.command("fetch")
def fetch() -> None:
    """Build helm, kubeconform and the offline schemas into .stack/tools (once)."""
    from annals.deploy import lint

    subprocess.run(["bash", str(lint.FETCH)], check=True)


@helm_app.command("lint")
def lint_cmd() -> None:
    """Check topology.yaml, `helm lint` the chart, render each values file and validate it."""
    from annals.deploy import lint

    topology_cmd(check=True)
    if missing := lint.missing_tools():
        console.print(f"[red]✗[/red] missing {', '.join(missing)}: run `annals helm fetch`")
        raise typer.Exit(1)
    ok, report = lint.helm_lint()
    if not ok:
        console.print(report)
        raise typer.Exit(1)
    failed = False
    for checked in lint.check_all():
        mark = "[green]✓[/green]" if checked.ok else "[red]✗[/red]"
        lines = checked.report.splitlines()
        shown = lines if not checked.ok else lines[-1:]
        console.print(f"{mark} {checked.values}: " + "\n".join(shown), soft_wrap=True)
        failed = failed or not checked.ok
    if failed:
        raise typer.Exit(1)
