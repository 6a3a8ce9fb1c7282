"""Expected failures of Connect operations, each with a one-line message and a hint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from annals.connect.client import FieldError


class ConnectError(Exception):
    """Base of the errors `annals connectors` reports without a traceback."""

    hint: str = ""

    def line(self) -> str:
        """The message and, when there is one, what to do about it."""
        return f"{self} ({self.hint})" if self.hint else str(self)


class ConnectUnavailable(ConnectError):
    """The Connect REST API does not answer."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Kafka Connect at {url} does not answer: {reason}")
        self.hint = "start it with `annals stack up`; `annals stack status` shows its health"


class ConnectUnauthorized(ConnectError):
    """Connect's REST API refused the credentials (401)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"Kafka Connect at {url} refused the credentials (401)")
        self.hint = (
            "the client sends annals-admin with the secret connect-admin of .stack/secrets "
            "(or ANNALS_SECRET_CONNECT_ADMIN); `annals stack up` starts Connect with the same"
        )


class ConnectorNotFound(ConnectError):
    """No connector of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no connector named {name!r}")
        self.hint = "`annals connectors status` lists the connectors"


class ConfigFileError(ConnectError):
    """A connector config file cannot be read or rendered."""


class InvalidConfig(ConnectError):
    """Connect's validation rejected a config; nothing was applied."""

    def __init__(self, name: str, errors: Sequence[FieldError]) -> None:
        self.summary = f"connector {name!r}: {len(errors)} invalid setting(s), nothing applied"
        details = "; ".join(f"{e.name}: {e.message}" for e in errors)
        super().__init__(f"{self.summary} ({details})")
        self.name = name
        self.errors = list(errors)

    def line(self) -> str:
        """The summary; the CLI lists the errors in a table below it."""
        return self.summary


class ConnectorFailed(ConnectError):
    """The connector or one of its tasks is FAILED (the trace says why)."""

    def __init__(self, name: str, state: str, trace: str) -> None:
        super().__init__(f"connector {name!r} is {state}")
        self.name = name
        self.state = state
        self.trace = trace
        self.hint = "fix the cause, then `annals connectors restart " + name + "`"


class ConnectTimeout(ConnectError):
    """The connector did not reach RUNNING in time."""
