"""Typed events <-> stored records: upcasting on read, personal fields encrypted per subject."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from pydantic import ValidationError

from annals.eventstore.domain import REDACTED, DomainEvent
from annals.eventstore.errors import InvalidEvent, UndecodableEvent
from annals.eventstore.ports import Checkpoint, KeyStore, NewEvent, RecordedEvent, uuid7
from annals.eventstore.registry import EventRegistry

E = TypeVar("E", bound=DomainEvent)
PII_MARK = "$pii"
_PII_NEEDLE = f'"{PII_MARK}"'


class _Forgotten:
    """Stands in for a personal value whose key is gone until the model's marker replaces it."""

    __slots__ = ()


FORGOTTEN = _Forgotten()


class Envelope(Generic[E]):
    """A typed event with the record it was read from."""

    __slots__ = ("event", "record")

    def __init__(self, record: RecordedEvent, event: E) -> None:
        self.record = record
        self.event = event

    @property
    def stream_id(self) -> str:
        """Stream of the event."""
        return self.record.stream_id

    @property
    def version(self) -> int:
        """Version of the event in its stream."""
        return self.record.version

    @property
    def checkpoint(self) -> Checkpoint:
        """Global checkpoint after this event."""
        return self.record.checkpoint

    def __repr__(self) -> str:
        return f"Envelope({self.record!r}, {self.event!r})"


def _nonce(event_id: uuid.UUID, field: str) -> bytes:
    # Deterministic per (event, field): a re-sent event encrypts to the same bytes, so
    # idempotent re-appends compare equal. AES-GCM-SIV stays safe when a nonce repeats.
    return hashlib.sha256(event_id.bytes + field.encode()).digest()[:12]


def encrypt_value(key: bytes, subject: str, event_id: uuid.UUID, field: str, value: Any) -> dict:
    """The stored form of a personal value: {"$pii": "v1", "s": subject, "ct": base64}."""
    nonce = _nonce(event_id, field)
    plain = json.dumps(value, separators=(",", ":")).encode()
    sealed = AESGCMSIV(key).encrypt(nonce, plain, subject.encode())
    return {PII_MARK: "v1", "s": subject, "ct": base64.b64encode(nonce + sealed).decode()}


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


class EventCodec:
    """Encodes domain events for append and decodes records into typed envelopes."""

    def __init__(self, registry: EventRegistry, keys: KeyStore | None = None) -> None:
        self.registry = registry
        self.keys = keys

    async def encode(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        *,
        metadata: Mapping[str, Any] | None = None,
        event_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[NewEvent]:
        """NewEvents of domain events, personal fields encrypted with their subject's key."""
        if event_ids is not None and len(event_ids) != len(events):
            raise InvalidEvent("event_ids must match events one to one")
        out: list[NewEvent] = []
        for i, event in enumerate(events):
            if not isinstance(event, DomainEvent):
                raise InvalidEvent(f"expected a DomainEvent, got {type(event).__name__}")
            cls = type(event)
            if cls.event_type not in self.registry:
                raise InvalidEvent(f"event type {cls.event_type!r} is not registered")
            event_id = event_ids[i] if event_ids is not None else uuid7()
            data = event.model_dump(mode="json")
            personal = self.registry.personal(cls.event_type)
            if personal:
                subject = str(getattr(event, cls.subject_field)) if cls.subject_field else stream_id
                key = await self._key_for(subject)
                for field in personal:
                    if data.get(field) is not None:
                        data[field] = encrypt_value(key, subject, event_id, field, data[field])
            out.append(
                NewEvent(
                    event_type=cls.event_type,
                    data=data,
                    schema_version=cls.schema_version,
                    metadata=dict(metadata or {}),
                    event_id=event_id,
                )
            )
        return out

    async def _key_for(self, subject: str) -> bytes:
        if self.keys is None:
            raise InvalidEvent("personal fields need a key store; give the codec `keys`")
        return await self.keys.get_or_create(subject)

    async def decode(self, records: Sequence[RecordedEvent]) -> list[Envelope[Any]]:
        """Typed envelopes of records (upcast, personal fields decrypted or redacted)."""
        keys: dict[str, bytes] = {}
        if self.keys is not None:
            subjects = {s for r in records if _PII_NEEDLE in r.data_json for s in _subjects(r.data)}
            if subjects:
                keys = await self.keys.get_many(sorted(subjects))
        return [Envelope(r, self.decode_one(r, keys)) for r in records]

    def decode_one(self, record: RecordedEvent, keys: Mapping[str, bytes]) -> DomainEvent:
        """The typed event of one record, given the keys of its subjects."""
        model = self.registry.model(record.event_type)
        try:
            plain = _PII_NEEDLE not in record.data_json
            if plain and record.schema_version == model.schema_version:
                return model.model_validate_json(record.data_json)
            data = dict(record.data)
            for name, value in data.items():
                if isinstance(value, dict) and PII_MARK in value:
                    data[name] = decrypt_value(keys.get(value["s"]), value)
            data = self.registry.upcast(record.event_type, record.schema_version, data)
            for name, value in data.items():
                if value is FORGOTTEN:
                    marker = self.registry.personal(record.event_type).get(name)
                    data[name] = REDACTED if marker is None else marker.redacted
            return model.model_validate(data)
        except ValidationError as exc:
            raise UndecodableEvent(
                f"{record.event_type} v{record.schema_version} at {record.stream_id}"
                f"@{record.version} does not fit its model: {exc}"
            ) from exc

    async def iter_decoded(self, records: AsyncIterator[RecordedEvent]) -> AsyncIterator[Envelope]:
        """Decode a record stream (e.g. subscribe_all) one by one."""
        async for record in records:
            for envelope in await self.decode([record]):
                yield envelope


def _subjects(data: Mapping[str, Any]) -> list[str]:
    return [
        str(v["s"]) for v in data.values() if isinstance(v, dict) and PII_MARK in v and "s" in v
    ]
