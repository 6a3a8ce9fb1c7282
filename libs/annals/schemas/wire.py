"""The wire contract of event data: each (service, type, version)'s JSON Schema, compiled once.

schemas/<service>/<Type>.v<N>.json describe an event's plain data and mark personal fields with
`x-personal`. On the wire (the store, Kafka) a personal value is a `$pii` envelope
(annals.eventstore.codec) unless it is null, so the validator of a schema accepts, for such a
field, either what the schema says or an envelope: encrypted events are valid, and what is
inside an envelope is checked by whoever opens it.

Validators are compiled on first use and kept (jsonschema-rs: about a microsecond per event, so
the live projection path can afford it). Types are checked against a name pattern before a file
is looked up, and misses are not cached (a flood of made-up types cannot grow memory). Error
messages name fields and keywords, never values (they may be personal data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from annals.eventstore.codec import PII_MARK
from annals.messaging.cloudevents import dataschema_for
from annals.stack.settings import REPO_ROOT

DEFAULT_ROOT = REPO_ROOT / "schemas"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
# A personal value as the codec writes it: {"$pii": "v1", "s": subject, "ct": base64}.
ENVELOPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        PII_MARK: {"type": "string", "minLength": 1},
        "s": {"type": "string", "minLength": 1},
        "ct": {"type": "string", "minLength": 1},
    },
    "required": [PII_MARK, "s", "ct"],
    "additionalProperties": False,
}
MAX_ERRORS = 5
MASK = "***"  # what jsonschema-rs writes in its messages instead of a value


class UnknownSchema(LookupError):
    """No schema file for a (service, type, version): the event is not part of the contract."""


class InvalidData(ValueError):
    """An event's data (or its `dataschema`) does not match the schema of its type and version."""


def wire_form(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with each `x-personal` property also accepting a `$pii` envelope."""
    out = dict(schema)
    properties = dict(out.get("properties", {}))
    for name, prop in properties.items():
        if isinstance(prop, Mapping) and prop.get("x-personal"):
            plain = {k: v for k, v in prop.items() if k != "x-personal"}
            properties[name] = {"anyOf": [plain, ENVELOPE]}
    out["properties"] = properties
    return out


def describe_errors(validator: Any, data: Any) -> str:
    """Why data fails (field path and rule; values masked), at most MAX_ERRORS reasons."""
    errors = []
    for error in validator.iter_errors(data):
        where = "/".join(str(p) for p in error.instance_path) or "(data)"
        errors.append(f"{where}: {error.message.replace(MASK, 'the value')}")
        if len(errors) == MAX_ERRORS:
            break
    return "; ".join(errors)


@dataclass(frozen=True, slots=True)
class Contract:
    """One (service, type, version): its compiled validator and its `dataschema` path."""

    dataschema: str
    validator: Any

    def check(self, data: Any) -> None:
        """InvalidData when data does not match (the reasons name fields, not values)."""
        if not self.validator.is_valid(data):
            raise InvalidData(f"data does not match {self.dataschema}: "
                              f"{describe_errors(self.validator, data)}")  # fmt: skip


class WireSchemas:
    """The schemas of a folder (schemas/), compiled per (service, type, version) on first use."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root
        self._known: dict[tuple[str, str, int], Contract] = {}

    def contract(self, service: str, event_type: str, version: int) -> Contract:
        """The contract of one type and version; UnknownSchema when there is none."""
        key = (service, event_type, version)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = self._load(service, event_type, version)
        return found

    def _load(self, service: str, event_type: str, version: int) -> Contract:
        if not (_NAME.match(service) and _NAME.match(event_type)) or version < 1:
            raise UnknownSchema(f"{service}.{event_type} v{version} is not a valid type name")
        dataschema = dataschema_for(service, event_type, version)  # schemas/<service>/...
        try:
            schema = json.loads((self.root / dataschema.split("/", 1)[1]).read_text())
        except FileNotFoundError:
            raise UnknownSchema(f"no {dataschema} for {service}.{event_type} v{version}") from None
        validator = jsonschema_rs.Draft202012Validator(wire_form(schema), mask=MASK, offline=True)
        return Contract(dataschema, validator)

    def check(self, service: str, event_type: str, version: int, data: Any) -> None:
        """UnknownSchema or InvalidData unless data matches the type's schema of that version."""
        self.contract(service, event_type, version).check(data)


@cache
def wire_schemas(root: Path = DEFAULT_ROOT) -> WireSchemas:
    """The process's schemas of a folder (one compiled cache per folder)."""
    return WireSchemas(root)
