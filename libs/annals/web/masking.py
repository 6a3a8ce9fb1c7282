"""Masking personal values for callers without the `read:pii` scope."""

from __future__ import annotations

from typing import Any

from annals.eventstore.domain import REDACTED
from annals.web.auth import Principal

MASK = "***"


def mask(value: Any, principal: Principal) -> Any:
    """A personal value as `principal` may see it (masked without `read:pii`)."""
    if value is None or value == REDACTED or principal.has("read:pii"):
        return value
    return MASK
