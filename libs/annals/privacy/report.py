"""An erasure report: one finding per place a subject's data may live, each with its state.

States, from the point of view of someone holding a copy of that place (a backup, a topic
dump) but not the platform's keys:
- readable: personal data can be read there (plaintext, or ciphertext whose key still exists);
- unreadable: only ciphertext is left and the subject's key is gone;
- wiped: the personal values were there and have been removed;
- absent: the place holds none of the subject's personal data (and never held it in clear);
- unknown: the place could not be inspected (say why); it counts as not proven clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

READABLE, UNREADABLE, WIPED, ABSENT, UNKNOWN = (
    "readable", "unreadable", "wiped", "absent", "unknown",
)  # fmt: skip
PII_MARK = "$pii"


@dataclass(frozen=True)
class Finding:
    """One place: what kind it is, its name, the state of the subject's data there, details."""

    kind: str
    place: str
    state: str
    detail: str = ""


@dataclass
class Report:
    """Every finding about one subject."""

    subject: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def readable(self) -> list[Finding]:
        """Findings where the subject's personal data can still be read (or was not checked)."""
        return [f for f in self.findings if f.state in (READABLE, UNKNOWN)]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "subject": self.subject,
            "readable": len(self.readable),
            "findings": [asdict(f) for f in self.findings],
        }


def sealed_state(key_present: bool) -> str:
    """The state of ciphertext of the subject: readable while the key exists."""
    return READABLE if key_present else UNREADABLE


def classify(data: Any, subject: str, personal: Iterable[str]) -> tuple[int, int]:
    """(plain, sealed): personal values in clear, and values encrypted for the subject."""
    if not isinstance(data, Mapping):
        return 0, 0
    names = set(personal)
    plain = sealed = 0
    for name, value in data.items():
        if isinstance(value, Mapping) and PII_MARK in value:
            sealed += str(value.get("s")) == subject
        elif name in names and value not in (None, "", {}):
            plain += 1
    return plain, sealed


def tally(datas: Iterable[Any], subject: str, personal: Iterable[str]) -> tuple[int, int]:
    """(plain, sealed): how many of the data hold personal values in clear, how many ciphertext."""
    names = frozenset(personal)
    plain = sealed = 0
    for data in datas:
        p, s = classify(data, subject, names)
        plain, sealed = plain + bool(p), sealed + bool(s)
    return plain, sealed


def record_data(value: bytes | None) -> Any:
    """The event data of a Kafka record: a structured CloudEvent's `data`, else the value."""
    if not value:
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    if isinstance(document, dict) and "specversion" in document:
        return document.get("data")
    return document


def state_of(plain: int, sealed: int, key_present: bool) -> str:
    """The state of a place holding `plain` clear and `sealed` encrypted values."""
    if plain:
        return READABLE
    if sealed:
        return sealed_state(key_present)
    return ABSENT


def counted(plain: int, sealed: int, what: str) -> str:
    """A detail line: how many of `what` hold clear and encrypted values."""
    return f"{what}: {plain} with personal values in clear, {sealed} with ciphertext"


def worst(states: Sequence[str]) -> str:
    """The state of a group of places: the most readable one."""
    for state in (UNKNOWN, READABLE, UNREADABLE, WIPED):
        if state in states:
            return state
    return ABSENT
