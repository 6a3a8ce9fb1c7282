"""Personal values as a console viewer may see them: `***` without `read:pii`.

Personal fields are stored as `{"$pii": ...}` envelopes (annals.eventstore.codec), in the
stores, on Kafka and in dead letters alike; without `read:pii` each envelope is shown as `***`,
with it the value decrypted with its subject's key (or `(forgotten)` when the key is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annals.eventstore.codec import FORGOTTEN, PII_MARK, decrypt_value
from annals.eventstore.ports import KeyStore
from annals.web.auth import Principal

MASK = "***"


def subjects(value: Any) -> set[str]:
    """The subjects of every personal envelope inside `value`."""
    if isinstance(value, Mapping):
        if PII_MARK in value:
            return {str(value.get("s", ""))}
        return {s for v in value.values() for s in subjects(v)}
    if isinstance(value, list):
        return {s for v in value for s in subjects(v)}
    return set()


def reveal(value: Any, keys: Mapping[str, bytes] | None) -> Any:
    """`value` with each envelope decrypted (keys given) or masked (keys None)."""
    if isinstance(value, Mapping):
        if PII_MARK in value:
            if keys is None:
                return MASK
            plain = decrypt_value(keys.get(str(value.get("s", ""))), value)
            return "(forgotten)" if plain is FORGOTTEN else plain
        return {k: reveal(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, keys) for v in value]
    return value


async def shown(value: Any, principal: Principal, store: KeyStore | None) -> Any:
    """`value` as `principal` may see it (masked unless it holds read:pii and keys are known)."""
    if not principal.has("read:pii") or store is None:
        return reveal(value, None)
    wanted = sorted(subjects(value))
    keys = await store.get_many(wanted) if wanted else {}
    return reveal(value, keys)
