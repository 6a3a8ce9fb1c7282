"""`annals privacy report <subject>`: every place the subject's data lives, and its state there.

Exit status 0 when nothing is readable or unknown, 1 otherwise: after Forget a script can
check that the erasure is complete.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from annals.privacy import READABLE, UNKNOWN, Report

console = Console(highlight=False, soft_wrap=True)
privacy_app = typer.Typer(help="Personal data: where a subject's data lives.", no_args_is_help=True)
STYLE = {READABLE: "red", UNKNOWN: "yellow"}


def register(app: typer.Typer) -> None:
    """Add `annals privacy ...` to app."""
    app.add_typer(privacy_app, name="privacy")


@privacy_app.command()
def report(
    subject: Annotated[str, typer.Argument(help="the data subject (a customer id)")],
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """Event stores (key state), read models (every version), idempotency records, parked rows,
    DLQs and Kafka topics: for each, whether the subject's data is readable, unreadable, wiped."""
    from annals.privacy.collect import report as collect

    try:
        found = asyncio.run(collect(subject))
    except Exception as exc:
        console.print(f"[red]error[/red] report failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(found.as_dict(), indent=2, default=str))
    else:
        _print(found)
    if found.readable:
        raise typer.Exit(1)


def _print(found: Report) -> None:
    table = Table(title=f"personal data of {found.subject}")
    for column in ("kind", "place", "state", "detail"):
        table.add_column(column)
    for f in found.findings:
        style = STYLE.get(f.state, "green")
        table.add_row(f.kind, f.place, f"[{style}]{f.state}[/{style}]", f.detail)
    console.print(table)
    count = len(found.readable)
    console.print(f"{count} places still readable or unchecked" if count else "nothing readable")


@privacy_app.command("purge-cdc")
def purge_cdc(
    yes: Annotated[bool, typer.Option("--yes", help="delete without asking")] = False,
) -> None:
    """Delete CDC records published before the connector left the personal columns out."""
    from annals.privacy.purge import purge_cdc as purge

    if not yes and not typer.confirm("Delete those records from the CDC topics for good?"):
        raise typer.Exit(1)
    try:
        done = asyncio.run(purge())
    except Exception as exc:
        console.print(f"[red]error[/red] purge failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    for topic, upto in done.items():
        moved = ", ".join(f"p{p} from offset {o}" for p, o in sorted(upto.items())) or "nothing"
        console.print(f"{topic}: {moved}")
