"""Time travel: a stream's state as of a version, folded from its events in order.

The console holds no service's domain code, so the state is the services' common shape of
it: every field any event up to that version set, the later value winning, nested objects
merged the same way; with the type and time of the event that last touched each field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def merge(state: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`state` with `data`'s fields laid over it (nested mappings merged, not replaced)."""
    out = dict(state)
    for key, value in data.items():
        before = out.get(key)
        if isinstance(before, dict) and isinstance(value, Mapping):
            out[key] = merge(before, value)
        else:
            out[key] = value
    return out


def as_of(events: Iterable[Mapping[str, Any]], version: int) -> dict[str, Any]:
    """The folded state after the events up to `version` (each: version, event_type, data)."""
    state: dict[str, Any] = {}
    touched: dict[str, str] = {}
    last: Mapping[str, Any] | None = None
    for event in events:
        if event["version"] > version:
            break
        data = event["data"] if isinstance(event["data"], Mapping) else {"value": event["data"]}
        state = merge(state, data)
        touched.update({key: f"v{event['version']} {event['event_type']}" for key in data})
        last = event
    return {"version": last["version"] if last else 0,
            "last_event": last["event_type"] if last else "", "state": state,
            "touched": touched}  # fmt: skip
