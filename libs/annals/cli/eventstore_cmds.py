"""`annals db migrate` and `annals import` (event store commands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the event store commands to `app`."""
