"""The one error the stack raises: a cause a person can act on, and the way out."""

from __future__ import annotations


class StackError(Exception):
    """A component could not be started or checked; `hint` says what to do about it."""

    def __init__(self, component: str, cause: str, hint: str) -> None:
        super().__init__(f"{component}: {cause} -> {hint}")
        self.component = component
        self.cause = cause
        self.hint = hint

    def line(self) -> str:
        """The single line shown to a person."""
        return f"{self.component}: {self.cause} -> {self.hint}"
