"""Time travel: a stream's state as of a version.

Where the stream's service declares its aggregate (Service.aggregates), the state is the
aggregate's own: the events decoded (decrypt, upcast, type) and replayed with its decider. The
console imports no service: the declaration names the aggregate as `module:attribute`, imported
when a stream of that type is shown. Otherwise, or when the replay fails (the page says why),
the generic fold: every field any event up to that version set, the later value winning,
nested objects merged the same way; with the event that last touched each field.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from annals.console.masking import MASK, shown
from annals.eventstore.decoding import FORGOTTEN, Decoder, record_keys
from annals.eventstore.decoding import decoder as decoder_of
from annals.eventstore.ports import KeyStore, RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.topology import Service, resolve, topology
from annals.web.auth import Principal


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


# The aggregate's own state: where a service declares the aggregate of a stream type
# (Service.aggregates, a module:attribute reference imported here on first use), the stream's
# events are decoded through the one decode path (annals.eventstore.decoding) and replayed
# with its decider; otherwise, or when that fails, the generic fold above, labelled as such.


class ReplayFailed(Exception):
    """The declared aggregate could not replay the stream (the message says why)."""


FOLD = "generic fold of the events' fields (no aggregate declared for this stream type)"


def _decider(ref: str) -> Any:
    """The decider a reference names: a DeciderAggregate's `decider`, or a Decider itself."""
    try:
        found = resolve(ref)
    except Exception as exc:  # any import failure is the declaration's, shown on the page
        why = f"{type(exc).__name__}: {exc}"
        raise ReplayFailed(f"aggregate {ref!r} does not import: {why}") from exc
    decider = getattr(found, "decider", found)
    if not all(callable(getattr(decider, name, None)) for name in ("initial", "evolve")):
        raise ReplayFailed(f"aggregate {ref!r} is a {type(found).__name__}, not a decider")
    return decider


def declared(stream_type: str, services: Iterable[Service]) -> tuple[str, str] | None:
    """(aggregate, events) references of the service declaring `stream_type`'s aggregate."""
    for service in services:
        ref = service.aggregates.get(stream_type)
        if ref and service.events:
            return ref, service.events
    return None


def _registry(events_ref: str) -> EventRegistry:
    try:
        return _registries(events_ref)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise ReplayFailed(f"events {events_ref!r} do not import: {why}") from exc


@functools.cache
def _registries(events_ref: str) -> EventRegistry:
    return EventRegistry(resolve(events_ref))


def _typed(decoder: Decoder, record: RecordedEvent, keys: Mapping[str, bytes] | None) -> Any:
    """A record's typed event: decrypted with `keys`, or with personal values masked (None)."""
    if keys is not None:
        return decoder.decode(record, keys)
    data = decoder.plain(record.event_type, record.schema_version, record.data, {}, MASK)
    try:
        return decoder.typed(record.event_type, dict(data))
    except ValidationError as exc:  # where "***" does not fit a field, its forgotten marker
        for error in exc.errors():
            if error["loc"] and data.get(str(error["loc"][0])) == MASK:
                data[str(error["loc"][0])] = FORGOTTEN
        return decoder.typed(record.event_type, data)


def replay(
    records: Sequence[RecordedEvent],
    version: int,
    aggregate: str,
    events: str,
    keys: Mapping[str, bytes] | None,
) -> dict[str, Any]:
    """The aggregate's state after the records up to `version`, as JSON-able data.

    `keys` None: the viewer may not read personal data; personal values are replayed as `***`
    (or, where a field cannot hold that, as its forgotten marker). ReplayFailed says why not.
    """
    decider, decoder = _decider(aggregate), decoder_of(_registry(events))
    upto = [r for r in records if r.version <= version]
    try:
        state = decider.initial()
        for record in upto:
            state = decider.evolve(state, _typed(decoder, record, keys))
        plain = to_jsonable_python(state)
    except Exception as exc:  # a failure of the service's code is shown, never a 500
        raise ReplayFailed(f"{aggregate} does not replay this stream: "
                           f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
    last = upto[-1] if upto else None
    return {"version": last.version if last else 0, "last_event": last.event_type if last else "",
            "state": plain if isinstance(plain, dict) else {"value": plain}, "touched": {},
            "source": f"aggregate {aggregate}", "note": ""}  # fmt: skip


async def state_as_of(
    records: Sequence[RecordedEvent],
    version: int,
    stream_type: str,
    who: Principal,
    keys: KeyStore | None,
    services: Iterable[Service] | None = None,
) -> dict[str, Any]:
    """The stream's state as of `version`: the declared aggregate's, else the generic fold."""
    note = ""
    found = declared(stream_type, topology().services.values() if services is None else services)
    if found is not None:
        opened = None
        if who.has("read:pii") and keys is not None:
            with contextlib.suppress(Exception):  # the key store away: replayed masked
                opened = await record_keys(keys, [r for r in records if r.version <= version])
        try:
            return replay(records, version, *found, opened)
        except ReplayFailed as exc:
            note = f"{exc}; shown: the generic fold"
    events = [{"version": r.version, "event_type": r.event_type,
               "data": await shown(r.data, who, keys)} for r in records]  # fmt: skip
    return {**as_of(events, version), "source": FOLD if not note else "generic fold",
            "note": note}  # fmt: skip
