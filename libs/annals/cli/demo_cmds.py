"""`annals platform up|down|status` and `annals demo`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `annals platform ...` and `annals demo` to app."""
