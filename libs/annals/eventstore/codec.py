"""Typed events <-> stored records: personal fields encrypted per subject on append; reads
decode through annals.eventstore.decoding (decrypt, then upcast, then type)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from annals.eventstore.decoding import FORGOTTEN, PII_MARK, decoder, decrypt_value, record_keys
from annals.eventstore.domain import DomainEvent
from annals.eventstore.errors import InvalidEvent
from annals.eventstore.ports import Checkpoint, KeyStore, NewEvent, RecordedEvent, uuid7
from annals.eventstore.registry import EventRegistry

E = TypeVar("E", bound=DomainEvent)
__all__ = ["FORGOTTEN", "PII_MARK", "Envelope", "EventCodec", "decrypt_value", "encrypt_value"]


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


class EventCodec:
    """Encodes domain events for append and decodes records into typed envelopes."""

    def __init__(self, registry: EventRegistry, keys: KeyStore | None = None) -> None:
        self.registry = registry
        self.keys = keys
        self.decoder = decoder(registry)

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
        """Typed envelopes of records: decrypted, upcast, typed (annals.eventstore.decoding)."""
        keys = await record_keys(self.keys, records)
        events = self.decoder.decode_all(records, keys)
        return [Envelope(r, e) for r, e in zip(records, events, strict=True)]

    def decode_one(self, record: RecordedEvent, keys: Mapping[str, bytes]) -> DomainEvent:
        """The typed event of one record, given the keys of its subjects."""
        return self.decoder.decode(record, keys)

    async def iter_decoded(self, records: AsyncIterator[RecordedEvent]) -> AsyncIterator[Envelope]:
        """Decode a record stream (e.g. subscribe_all) one by one."""
        async for record in records:
            for envelope in await self.decode([record]):
                yield envelope
