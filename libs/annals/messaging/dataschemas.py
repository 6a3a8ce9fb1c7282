"""A subscriber's check of a record against the schema its `dataschema` names in a registry.

A consumer outside the repository has no schemas/ folder: it follows the record's `dataschema`
(`<registry>/subjects/<topic>-<Type>.v<N>/versions/latest/schema`, a schema registry's bare
schema), fetches it once with a `read` token, keeps it, and validates `data` against it.
Personal fields travel as `$pii` envelopes, which the schema's wire form accepts
(annals.schemas.wire), so an encrypted event is valid too. Only http(s) URIs under the given
registry are fetched: a record cannot make the subscriber call an address of its choosing.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx
import jsonschema_rs

from annals.messaging.cloudevents import CloudEvent
from annals.messaging.errors import MalformedEvent
from annals.schemas.wire import MASK, describe_errors, wire_form

MAX_CACHED = 1024


class SchemaUnavailable(MalformedEvent):
    """The record's `dataschema` is not a schema of this registry, or it does not answer 200."""


class DataInvalid(MalformedEvent):
    """The record's data does not validate against the schema its `dataschema` names."""


class DataSchemas:
    """Schemas fetched by URI from one registry (`base`), cached, and checks of data by them."""

    def __init__(self, client: httpx.AsyncClient, base: str, max_cached: int = MAX_CACHED) -> None:
        self.client = client  # carries the `read` token (Authorization) and its timeout
        self.base = base.rstrip("/") + "/"
        self.max_cached = max_cached
        self._validators: OrderedDict[str, Any] = OrderedDict()
        self.fetched = 0

    async def schema(self, uri: str) -> dict[str, Any]:
        """The schema document at `uri`, fetched from the registry (SchemaUnavailable else)."""
        if not uri.startswith(self.base) or not uri.startswith(("http://", "https://")):
            raise SchemaUnavailable(f"dataschema {uri[:120]!r} is not a schema of {self.base}")
        try:
            answer = await self.client.get(uri)
        except httpx.HTTPError as exc:
            raise SchemaUnavailable(f"dataschema {uri} could not be fetched: {exc!r}") from None
        self.fetched += 1
        if answer.status_code != 200:
            raise SchemaUnavailable(f"dataschema {uri} answered {answer.status_code}")
        document = answer.json()
        if not isinstance(document, dict):
            raise SchemaUnavailable(f"dataschema {uri} is not a JSON Schema object")
        return document

    async def validator(self, uri: str) -> Any:
        """The compiled wire form of the schema at `uri` (fetched once, then cached)."""
        found = self._validators.get(uri)
        if found is not None:
            self._validators.move_to_end(uri)
            return found
        schema = wire_form(await self.schema(uri))
        found = jsonschema_rs.Draft202012Validator(schema, mask=MASK, offline=True)
        self._validators[uri] = found
        if len(self._validators) > self.max_cached:
            self._validators.popitem(last=False)
        return found

    async def check(self, event: CloudEvent) -> None:
        """DataInvalid unless the event's data validates against its `dataschema`."""
        if event.dataschema is None:
            raise SchemaUnavailable(f"{event.type} {event.id} names no dataschema")
        validator = await self.validator(event.dataschema)
        if not validator.is_valid(event.data):
            why = describe_errors(validator, event.data)
            raise DataInvalid(f"data does not match {event.dataschema}: {why}")
