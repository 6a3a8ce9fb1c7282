"""The registry's rules over its storage: register, look up, delete, levels, compatibility.

Ids are global and never reused: the same canonical schema text has one id under every subject,
and an id stays bound to its text after every version using it is deleted. Versions count up per
subject. A registration is checked against the subject's live versions at the subject's level
(else the global one, else BACKWARD), with annals.schemas.levels' rules.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

from annals.registry import errors as e
from annals.registry.errors import RegistryError
from annals.registry.ports import RegistryStore, Transaction, Version
from annals.schemas.levels import DEFAULT_LEVEL, Level, problems

SCHEMA_TYPE = "JSON"


def canonical(text: str, schema_type: str | None = SCHEMA_TYPE) -> str:
    """The stored form of a JSON Schema (sorted keys, no spaces); 42201 when it is not one."""
    if (schema_type or SCHEMA_TYPE) != SCHEMA_TYPE:
        raise RegistryError(e.INVALID_SCHEMA, f"only JSON schemas are served, not {schema_type}")
    try:
        parsed = json.loads(text)
        if not isinstance(parsed, dict | bool):
            raise ValueError("a JSON Schema is an object or a boolean")
        jsonschema_rs.validator_for(parsed)
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        raise RegistryError(e.INVALID_SCHEMA, f"invalid JSON schema: {exc}") from None
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_level(value: object) -> Level:
    """A level by name; 42203 when there is no such level."""
    try:
        return Level(str(value).upper())
    except ValueError:
        raise RegistryError(e.INVALID_LEVEL, f"invalid compatibility level {value!r}") from None


def _live(versions: list[Version]) -> list[Version]:
    return [v for v in versions if not v.deleted]


async def _existing(tx: Transaction, subject: str, *, deleted: bool = False) -> list[Version]:
    versions = await tx.versions(subject)
    shown = versions if deleted else _live(versions)
    if not shown:
        raise RegistryError(e.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
    return shown


def _pick(versions: list[Version], ref: str | int, subject: str) -> Version:
    if str(ref) in ("latest", "-1"):
        return versions[-1]
    try:
        number = int(ref)
    except ValueError:
        number = 0
    if number < 1:
        raise RegistryError(e.INVALID_VERSION, f"The specified version '{ref}' is not valid.")
    found = [v for v in versions if v.version == number]
    if not found:
        raise RegistryError(e.VERSION_NOT_FOUND, f"Version {number} of '{subject}' not found.")
    return found[0]


class Registry:
    """The Confluent registry's operations on a store (each in one transaction)."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    async def subjects(self, *, deleted: bool = False) -> list[str]:
        """Subjects with live versions (with `deleted`, soft-deleted ones too)."""
        async with self.store.transaction() as tx:
            names = await tx.subjects()
            return [s for s in names if deleted or _live(await tx.versions(s))]

    async def version_numbers(self, subject: str, *, deleted: bool = False) -> list[int]:
        """The subject's version numbers."""
        async with self.store.transaction() as tx:
            return [v.version for v in await _existing(tx, subject, deleted=deleted)]

    async def version(self, subject: str, ref: str | int, *, deleted: bool = False) -> Version:
        """One version by number or `latest`."""
        async with self.store.transaction() as tx:
            return _pick(await _existing(tx, subject, deleted=deleted), ref, subject)

    async def schema(self, schema_id: int) -> str:
        """The schema text of a global id."""
        async with self.store.transaction() as tx:
            found = await tx.schema(schema_id)
        if found is None:
            raise RegistryError(e.SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        return found

    async def uses(self, schema_id: int) -> list[Version]:
        """The subject-versions of a global id."""
        await self.schema(schema_id)
        async with self.store.transaction() as tx:
            return await tx.uses(schema_id)

    async def register(self, subject: str, text: str, schema_type: str | None = None) -> int:
        """The id of the schema under the subject, registering it if new and compatible (409)."""
        schema = canonical(text, schema_type)
        async with self.store.transaction() as tx:
            versions = await tx.versions(subject)
            live = _live(versions)
            same = [v for v in live if v.schema == schema]
            if same:
                return same[0].id
            level = await self._level(tx, subject)
            found = problems(level, json.loads(schema), [json.loads(v.schema) for v in live])
            if found:
                raise RegistryError(
                    e.INCOMPATIBLE,
                    f"Schema being registered is incompatible with an earlier schema for subject "
                    f"'{subject}' at {level.value}: {'; '.join(found)}",
                )
            schema_id = await tx.id_of(schema) or await tx.new_id(schema)
            number = max((v.version for v in versions), default=0) + 1
            await tx.add(Version(subject, number, schema_id, schema))
            return schema_id

    async def lookup(self, subject: str, text: str, schema_type: str | None = None) -> Version:
        """The live version of the subject holding this schema (40401, 40403)."""
        schema = canonical(text, schema_type)
        async with self.store.transaction() as tx:
            for version in await _existing(tx, subject):
                if version.schema == schema:
                    return version
        raise RegistryError(e.SCHEMA_NOT_FOUND, "Schema not found")

    async def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete every version (or, once soft-deleted, remove them): their numbers."""
        async with self.store.transaction() as tx:
            versions = await _existing(tx, subject, deleted=True)
            live = _live(versions)
            if permanent:
                if live:
                    raise RegistryError(
                        e.SUBJECT_NOT_SOFT_DELETED,
                        f"Subject '{subject}' was not deleted first before being permanently "
                        "deleted",
                    )
                for v in versions:
                    await tx.remove(subject, v.version)
                return [v.version for v in versions]
            if not live:
                raise RegistryError(e.SUBJECT_SOFT_DELETED, f"Subject '{subject}' was soft deleted")
            for v in live:
                await tx.mark_deleted(subject, v.version)
            return [v.version for v in live]

    async def delete_version(self, subject: str, ref: str, *, permanent: bool = False) -> int:
        """Soft-delete one version (or, once soft-deleted, remove it): its number."""
        async with self.store.transaction() as tx:
            version = _pick(await _existing(tx, subject, deleted=True), ref, subject)
            if permanent and not version.deleted:
                raise RegistryError(
                    e.VERSION_NOT_SOFT_DELETED,
                    f"Subject '{subject}' Version {version.version} was not deleted first",
                )
            if not permanent and version.deleted:
                raise RegistryError(
                    e.VERSION_SOFT_DELETED,
                    f"Subject '{subject}' Version {version.version} was soft deleted",
                )
            if permanent:
                await tx.remove(subject, version.version)
            else:
                await tx.mark_deleted(subject, version.version)
            return version.version

    async def level(self, subject: str | None = None, *, fallback: bool = True) -> Level:
        """The level in force for a subject (or globally); 40408 without one and `fallback`."""
        async with self.store.transaction() as tx:
            if subject is not None and not fallback:
                own = await tx.level(subject)
                if own is None:
                    raise RegistryError(
                        e.SUBJECT_LEVEL_NOT_CONFIGURED,
                        f"Subject '{subject}' does not have subject-level compatibility configured",
                    )
                return Level(own)
            return await self._level(tx, subject)

    async def set_level(self, subject: str | None, value: object) -> Level:
        """Set a subject's (or the global) level."""
        level = parse_level(value)
        async with self.store.transaction() as tx:
            await tx.set_level(subject, level.value)
        return level

    async def clear_level(self, subject: str) -> Level:
        """Remove a subject's own level: the level it had."""
        previous = await self.level(subject, fallback=False)
        async with self.store.transaction() as tx:
            await tx.set_level(subject, None)
        return previous

    async def check(
        self, subject: str, text: str, ref: str | None, schema_type: str | None = None
    ) -> list[str]:
        """Why the schema may not be registered after version `ref` (None: all) of the subject."""
        new: dict[str, Any] = json.loads(canonical(text, schema_type))
        async with self.store.transaction() as tx:
            live = _live(await tx.versions(subject))
            if ref is not None:
                if not live:
                    raise RegistryError(e.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
                upto = _pick(live, ref, subject).version
                live = [v for v in live if v.version <= upto]
            level = await self._level(tx, subject)
        return problems(level, new, [json.loads(v.schema) for v in live])

    async def _level(self, tx: Transaction, subject: str | None) -> Level:
        own = await tx.level(subject) if subject is not None else None
        return Level(own or await tx.level(None) or DEFAULT_LEVEL.value)
