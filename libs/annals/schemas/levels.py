"""Confluent's compatibility levels over a subject's versions, on annals.schemas.compat's rules.

BACKWARD: the new schema reads data written under the latest one; FORWARD: the latest reads the
new one's data; FULL: both. The _TRANSITIVE forms check every earlier version, not only the
latest; NONE checks nothing. Versions are given oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from annals.schemas.compat import readable


class Level(StrEnum):
    """A compatibility level, named as Confluent's registry names it."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


DEFAULT_LEVEL = Level.BACKWARD


def _directions(level: Level) -> tuple[bool, bool]:
    """(backward, forward) of a level."""
    base = level.value.removesuffix("_TRANSITIVE")
    return base in ("BACKWARD", "FULL"), base in ("FORWARD", "FULL")


def problems(level: Level, new: dict[str, Any], earlier: Sequence[dict[str, Any]]) -> list[str]:
    """Why `new` may not follow `earlier` (oldest first) at `level` (empty: compatible)."""
    if level is Level.NONE or not earlier:
        return []
    backward, forward = _directions(level)
    compared = earlier if level.value.endswith("_TRANSITIVE") else earlier[-1:]
    found: list[str] = []
    for number, old in enumerate(compared, start=len(earlier) - len(compared) + 1):
        if backward:
            found += [f"backward (version {number}): {p}" for p in readable(new, old)]
        if forward:
            found += [f"forward (version {number}): {p}" for p in readable(old, new)]
    return found
