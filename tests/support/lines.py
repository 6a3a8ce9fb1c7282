"""A logger that keeps what it was told: for tests of the one-line-per-outage rule (no I/O)."""

from __future__ import annotations

from typing import Any


class Lines:
    """Keeps the events of warning and info calls."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        """Keep a warning's event."""
        self.warnings.append(event)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        """Keep an info line's event."""
        self.infos.append(event)
