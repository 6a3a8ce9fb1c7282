"""`annals catalog`: the lineage the data team asks for (annals.schemas.lineage)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from annals.schemas.lineage import read_models, topics

console = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `annals catalog` to app."""
    app.command("catalog")(catalog)


def catalog(
    as_json: Annotated[bool, typer.Option("--json", help="print it as JSON")] = False,
) -> None:
    """Each read model's topics, event types and personal columns; each topic's producer,
    schema versions, retention and consumers."""
    models, feeds = read_models(), topics()
    if as_json:
        typer.echo(json.dumps({"read_models": [asdict(m) for m in models],
                               "topics": [asdict(t) for t in feeds]}, indent=2))  # fmt: skip
        return
    table = Table("read model", "database", "topics", "event types", "personal columns")
    for m in models:
        personal = "; ".join(f"{t}: {', '.join(c)}" for t, c in m.personal_columns.items())
        table.add_row(m.name, m.database, "\n".join(m.topics), "\n".join(m.event_types),
                      personal or "-")  # fmt: skip
    console.print(table)
    table = Table("topic", "producer", "schema versions", "retention", "consumers")
    for t in feeds:
        versions = "\n".join(f"{k} v{','.join(map(str, v))}" for k, v in t.versions.items())
        table.add_row(t.name, t.producer, versions or "-", t.retention,
                      ", ".join(t.consumers) or "-")  # fmt: skip
    console.print(table)
