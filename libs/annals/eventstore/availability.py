"""Whether the database can be reached: outages as one state, not one error per request.

A pool reports every connection it could not get or lost and every block that ran; an outage
begins at the first failure after a success and ends at the next success. Each edge is logged
once (a warning when it begins, an info line when it ends), so a database that is away for a
minute costs two log lines, not a traceback per request. Liveness reads `down_for`: a worker
that has had no connection for long enough cannot serve at all and should be restarted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

log = logging.getLogger(__name__)


class Log(Protocol):
    """What Availability logs to (a logging.Logger or a structlog logger)."""

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log a warning."""
        ...

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log an info line."""
        ...


class PoolTimeout(TimeoutError):
    """No pooled connection could be had within the acquire bound."""


def is_outage(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached or lost the connection."""
    match exc:
        case (
            asyncpg.PostgresConnectionError()
            | asyncpg.CannotConnectNowError()
            | asyncpg.AdminShutdownError()
            | asyncpg.CrashShutdownError()
            | asyncpg.TooManyConnectionsError()
        ):
            return True
        case asyncpg.InterfaceError():
            return "closed" in str(exc)
        case OSError():  # refused, reset, unreachable, and TimeoutError (connect, acquire)
            return True
    return False


def reason(exc: BaseException) -> str:
    """A one-line reason of an error (its class when it has no message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Availability:
    """The database's state as one pool sees it: since when it fails, and the last error."""

    def __init__(
        self,
        name: str = "database",
        logger: Log | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.log: Log = logger if logger is not None else log
        self.clock = clock
        self.failing_since: float | None = None
        self.last_error = ""

    def succeeded(self) -> None:
        """The database answered: an outage, if any, is over (logged once)."""
        if self.failing_since is None:
            return
        lasted = self.clock() - self.failing_since
        self.failing_since = None
        self.log.info(f"{self.name} is reachable again after {lasted:.1f} s")

    def failed(self, exc: BaseException) -> None:
        """The database could not be reached (or the connection was lost): logged at the start."""
        self.last_error = reason(exc)
        if self.failing_since is not None:
            return
        self.failing_since = self.clock()
        self.log.warning(
            f"{self.name} is unreachable ({self.last_error}); "
            "requests are answered 503 until it is back"
        )

    def down_for(self, now: float | None = None) -> float:
        """Seconds since the outage began (0 while the database is reachable)."""
        if self.failing_since is None:
            return 0.0
        return (self.clock() if now is None else now) - self.failing_since
