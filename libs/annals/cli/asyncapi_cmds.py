"""`annals asyncapi export`: the AsyncAPI 3.0 document of every topic (annals.schemas.asyncapi)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from annals.schemas.asyncapi import document

asyncapi_app = typer.Typer(help="The AsyncAPI document of the platform's topics.")
Out = Annotated[Path | None, typer.Option("--out", help="write it here (default: stdout)")]


def register(app: typer.Typer) -> None:
    """Add `annals asyncapi ...` to app."""
    app.add_typer(asyncapi_app, name="asyncapi")


@asyncapi_app.command()
def export(out: Out = None) -> None:
    """Print (or write) the AsyncAPI 3.0 document: channels, keys, envelopes, payload schemas."""
    text = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}")
