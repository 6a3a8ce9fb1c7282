"""Personal data in bulk imports: sealed by the same encoding as append, before COPY sees it.

Privacy rule: no write path stores a personal field in clear. A line of an event type with
personal fields is turned into its typed event (upcast to the current version, validated) and
encoded by EventCodec.encode, the function append uses, so its fields are encrypted with the
subject's key exactly as an append would; the stored line then holds the current schema
version and the ciphertext. A subject already forgotten has no key: its line is refused.
Lines of event types without personal fields pass untouched (no parsing cost beyond a look at
the type); an event type the service does not know is refused, since nobody could say which of
its fields are personal.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from annals.eventstore.codec import PII_MARK, EventCodec
from annals.eventstore.errors import (
    ImportConflict,
    InvalidEvent,
    SubjectForgotten,
    UndecodableEvent,
)
from annals.eventstore.ports import KeyStore, uuid7


class ImportKeys:
    """A key store that fetches each subject's key once per import (one round trip a subject)."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._known: dict[str, bytes] = {}

    async def get_or_create(self, subject: str) -> bytes:
        """The subject's key, asked of the store the first time only."""
        if subject not in self._known:
            self._known[subject] = await self._keys.get_or_create(subject)
        return self._known[subject]

    async def get_many(self, subjects: Sequence[str]) -> dict[str, bytes]:
        """Keys of the subjects that still have one (from the store)."""
        return await self._keys.get_many(subjects)

    async def forget(self, subject: str) -> None:
        """Delete the subject's key in the store, and here."""
        self._known.pop(subject, None)
        await self._keys.forget(subject)


class PersonalDataSealer:
    """Encrypts the personal fields of NDJSON import lines through the append encoding."""

    def __init__(self, codec: EventCodec) -> None:
        keys = None if codec.keys is None else ImportKeys(codec.keys)
        self.codec = EventCodec(codec.registry, keys)
        registry = codec.registry
        self.sealed_types = {t for t in registry.event_types if registry.personal(t)}

    async def seal(self, first_line: int, lines: list[bytes]) -> list[bytes]:
        """The lines with every personal field encrypted (first_line numbers the first)."""
        return [await self.seal_line(first_line + i, line) for i, line in enumerate(lines)]

    async def seal_line(self, line_no: int, line: bytes) -> bytes:
        """One line, its personal fields encrypted; malformed lines are left to the importer."""
        try:
            doc = json.loads(line)
        except ValueError:
            return line
        if not isinstance(doc, dict) or not isinstance(doc.get("event_type"), str):
            return line
        event_type = doc["event_type"]
        if event_type not in self.codec.registry:
            raise InvalidEvent(f"line {line_no}: {event_type!r} is not an event of this service")
        if event_type not in self.sealed_types:
            return line
        return json.dumps(await self._sealed(line_no, doc), separators=(",", ":")).encode()

    async def _sealed(self, line_no: int, doc: dict[str, Any]) -> dict[str, Any]:
        event_type, data = doc["event_type"], doc.get("data")
        if not isinstance(data, dict) or not isinstance(doc.get("stream_id"), str):
            return doc  # the importer names what is wrong with it
        if any(isinstance(v, dict) and PII_MARK in v for v in data.values()):
            raise InvalidEvent(f"line {line_no}: personal data must be imported in clear")
        registry = self.codec.registry
        try:
            version = int(doc.get("schema_version", 1))
            event = registry.model(event_type).model_validate(
                registry.upcast(event_type, version, dict(data))
            )
            event_id = uuid.UUID(str(doc["event_id"])) if "event_id" in doc else uuid7()
        except (ValidationError, UndecodableEvent, ValueError, TypeError) as exc:
            raise InvalidEvent(
                f"line {line_no}: {event_type} does not fit its model: {exc}"
            ) from None
        try:
            (new,) = await self.codec.encode(doc["stream_id"], [event], event_ids=[event_id])
        except SubjectForgotten as exc:
            raise ImportConflict(
                f"line {line_no}: {exc}; personal data of a forgotten subject is refused"
            ) from None
        return {
            **doc,
            "data": new.data,
            "event_id": str(event_id),
            "schema_version": new.schema_version,
        }
