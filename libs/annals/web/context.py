"""Per-request context: the correlation id (a contextvar, also bound into structlog)."""

from __future__ import annotations

import contextvars
import re
import uuid

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "annals_correlation_id", default=None
)
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def correlation_id() -> str | None:
    """The correlation id of the current request, if any."""
    return _correlation.get()


def set_correlation_id(value: str | None) -> tuple[str, contextvars.Token[str | None]]:
    """Use the caller's id when it is well-formed, else a new one; return it and a reset token."""
    cid = value if value and _VALID.match(value) else uuid.uuid4().hex
    return cid, _correlation.set(cid)


def reset_correlation_id(token: contextvars.Token[str | None]) -> None:
    """Restore the previous correlation id."""
    _correlation.reset(token)
