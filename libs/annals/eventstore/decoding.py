"""The one decode path of stored events: decrypt, then upcast, then type.

Why this order: an upcaster is written against the plain data of its schema version, so it
must see personal values decrypted (it may move, split or reshape one), and only the upcast
data fits the current model. Every reader of stored events takes this path: the command side
(EventCodec.decode, under Repository), subscribers and reactors (annals.messaging.decoding),
the projectors and rebuilds (annals.projections.intake, which stop before typing: handlers
read the plain data of the current version). The relay publishes stored records as they are,
personal values still encrypted, and decodes nothing.

A record of the current version without personal values skips the first two steps and is
validated from its JSON text at once; that is nearly every record, and read_all's cost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from pydantic import ValidationError

from annals.eventstore.domain import REDACTED, DomainEvent, Personal
from annals.eventstore.errors import UndecodableEvent
from annals.eventstore.ports import KeyStore, RecordedEvent
from annals.eventstore.registry import EventRegistry

PII_MARK = "$pii"
PII_NEEDLE = f'"{PII_MARK}"'  # in the JSON text of any data holding an encrypted value


class _Forgotten:
    """Stands in for a personal value whose key is gone until the model's marker replaces it."""

    __slots__ = ()


FORGOTTEN = _Forgotten()


def decrypt_value(key: bytes | None, sealed: Mapping[str, Any]) -> Any:
    """The plain value of an encrypted one, or FORGOTTEN when the key is gone."""
    if key is None:
        return FORGOTTEN
    raw = base64.b64decode(sealed["ct"])
    try:
        plain = AESGCMSIV(key).decrypt(raw[:12], raw[12:], str(sealed["s"]).encode())
    except InvalidTag as exc:
        raise UndecodableEvent("personal data does not decrypt with the subject's key") from exc
    return json.loads(plain)


def is_sealed(value: Any) -> bool:
    """Whether a value is an encrypted personal value."""
    return isinstance(value, dict) and PII_MARK in value


def subjects_of(datas: Iterable[Mapping[str, Any]]) -> list[str]:
    """The subjects whose keys open the encrypted values of `datas`, sorted."""
    return sorted({str(v["s"]) for d in datas for v in d.values() if is_sealed(v) and "s" in v})


async def keys_of(keys: KeyStore | None, datas: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    """The keys of the subjects of `datas`, in one look-up (forgotten subjects are absent)."""
    subjects = subjects_of(datas)
    if keys is None or not subjects:
        return {}
    return dict(await keys.get_many(subjects))


def decrypt(
    data: Mapping[str, Any], keys: Mapping[str, bytes], forgotten: Any = FORGOTTEN
) -> dict[str, Any]:
    """Step 1: a copy of `data`, each encrypted value decrypted (`forgotten` if its key is gone).

    UndecodableEvent when a value does not open: not with its subject's key, or a malformed
    envelope (no "ct", bad base64).
    """
    out = dict(data)
    for name, value in out.items():
        if is_sealed(value):
            try:
                plain = decrypt_value(keys.get(str(value.get("s"))), value)
            except (UndecodableEvent, ValueError, KeyError, TypeError) as exc:
                raise UndecodableEvent(f"personal field {name} does not decrypt: {exc}") from None
            out[name] = forgotten if plain is FORGOTTEN else plain
    return out


class _Plan:
    """What decoding needs of one event type, found once."""

    __slots__ = ("model", "personal", "validate_json", "validate_python", "version")

    def __init__(self, model: type[DomainEvent], personal: dict[str, Personal]) -> None:
        self.model = model
        self.version = model.schema_version
        self.personal = personal
        self.validate_json = model.__pydantic_validator__.validate_json
        self.validate_python = model.__pydantic_validator__.validate_python


class Decoder:
    """The decode path of one registry's event types (see the module docstring)."""

    def __init__(self, registry: EventRegistry) -> None:
        self.registry = registry
        self._plans: dict[str, _Plan] = {}

    def _plan(self, event_type: str) -> _Plan:
        plan = self._plans.get(event_type)
        if plan is None:
            model = self.registry.model(event_type)  # UnknownEventType
            plan = self._plans[event_type] = _Plan(model, self.registry.personal(event_type))
        return plan

    def current_version(self, event_type: str) -> int:
        """The schema version of the registered model (UnknownEventType if none)."""
        return self._plan(event_type).version

    def plain(
        self,
        event_type: str,
        schema_version: int,
        data: Mapping[str, Any],
        keys: Mapping[str, bytes] | None,
        forgotten: Any = FORGOTTEN,
    ) -> dict[str, Any]:
        """Steps 1 and 2: the data decrypted (unless `keys` is None), then upcast.

        With `keys` None encrypted values stay sealed (a reader without access to personal
        data); upcasters then see them as they are stored.
        """
        self._plan(event_type)
        opened = dict(data) if keys is None else decrypt(data, keys, forgotten)
        return self.upcast(event_type, schema_version, opened)

    def upcast(self, event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Step 2: data of `schema_version` brought to the current model's version.

        UnknownEventType for a newer version or a missing upcaster; an upcaster meeting data
        it cannot read raises what it raises (KeyError, TypeError, ValueError).
        """
        if schema_version == self._plan(event_type).version:
            return data
        return self.registry.upcast(event_type, schema_version, data)

    def typed(self, event_type: str, data: dict[str, Any]) -> DomainEvent:
        """Step 3: the current model of upcast data; forgotten values become their markers."""
        plan = self._plan(event_type)
        for name, value in data.items():
            if value is FORGOTTEN:
                marker = plan.personal.get(name)
                data[name] = REDACTED if marker is None else marker.redacted
        return plan.validate_python(data)

    def decode(self, record: RecordedEvent, keys: Mapping[str, bytes]) -> DomainEvent:
        """The typed event of one record, given the keys of its subjects."""
        plan = self._plan(record.event_type)
        try:
            if record.schema_version == plan.version and PII_NEEDLE not in record.data_json:
                return plan.validate_json(record.data_json)
            data = self.plain(record.event_type, record.schema_version, record.data, keys)
            return self.typed(record.event_type, data)
        except ValidationError as exc:
            raise UndecodableEvent(
                f"{record.event_type} v{record.schema_version} at {record.stream_id}"
                f"@{record.version} does not fit its model: {exc}"
            ) from exc

    def decode_all(
        self, records: Sequence[RecordedEvent], keys: Mapping[str, bytes]
    ) -> list[DomainEvent]:
        """The typed events of records, in order (one loop, no per-record look-ups)."""
        plans, needle = self._plans, PII_NEEDLE
        out: list[DomainEvent] = []
        append = out.append
        for record in records:
            plan = plans.get(record.event_type) or self._plan(record.event_type)
            text = record.data_json
            if record.schema_version == plan.version and needle not in text:
                try:
                    append(plan.validate_json(text))
                    continue
                except ValidationError:
                    pass  # decode() raises it with the record's place
            append(self.decode(record, keys))
        return out


def decoder(registry: EventRegistry) -> Decoder:
    """The decoder of a registry, made once and kept on it (with its per-type plans).

    Kept in the registry's own __dict__, not a weak mapping: readers call this per event, and
    a dictionary look-up is a fraction of a weak reference's cost.
    """
    found: Decoder | None = registry.__dict__.get("_decoder")
    if found is None:
        found = registry.__dict__["_decoder"] = Decoder(registry)
    return found


async def record_keys(keys: KeyStore | None, records: Sequence[RecordedEvent]) -> dict[str, bytes]:
    """The keys that open the personal values of records (only records holding any are parsed)."""
    if keys is None:
        return {}
    return await keys_of(keys, (r.data for r in records if PII_NEEDLE in r.data_json))


__all__ = [
    "FORGOTTEN",
    "PII_MARK",
    "Decoder",
    "decoder",
    "decrypt",
    "decrypt_value",
    "is_sealed",
    "keys_of",
    "record_keys",
    "subjects_of",
]
