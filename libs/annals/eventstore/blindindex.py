"""Keyed hashes (HMAC-SHA256) of personal values, for lookups that must not store the values.

An unsalted hash of an email is as good as the email to anyone holding a list of candidates, so
lookups on personal data (the email reservation, idempotency fingerprints) store an HMAC under a
key kept outside the database. The keys are derived (HKDF-SHA256, one `purpose` each) from the
master keys of ANNALS_MASTER_KEYS, so they rotate with them: the first master key makes new
values, every listed one still matches old values, and a re-key pass moves stored values to the
current key before the old master key is dropped. Without master keys (development) the key is
derived from the stack secret `blind-index` (.stack/secrets, or ANNALS_SECRET_BLIND_INDEX).
A stored value reads `<key id>:<hex>`, so a re-key pass finds the stale ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from annals.eventstore.keywrap import MasterKeySettings, parse_master_keys

LOCAL_ID = "local"


def derive(material: bytes, purpose: str) -> bytes:
    """The 32-byte HMAC key of one purpose, derived from master key material."""
    info = b"annals-blind-index:" + purpose.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


class BlindIndex:
    """HMACs under the current key; matching under every configured key (current first)."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("a BlindIndex needs at least one key")
        self._keys = dict(keys)
        self.current = next(iter(keys))

    def mac(self, value: str) -> str:
        """The stored form of `value` under the current key."""
        return self._mac(self.current, value)

    def candidates(self, value: str) -> list[str]:
        """The stored forms of `value` under every configured key, the current one first."""
        return [self._mac(ident, value) for ident in self._keys]

    def is_current(self, stored: str) -> bool:
        """Whether a stored value was made with the current key."""
        return stored.startswith(self.current + ":")

    def _mac(self, ident: str, value: str) -> str:
        digest = hmac.new(self._keys[ident], value.encode(), hashlib.sha256).hexdigest()
        return f"{ident}:{digest}"


def index_from(master: Mapping[str, bytes], purpose: str) -> BlindIndex:
    """The index of `purpose` under the given master keys (current first)."""
    return BlindIndex({ident: derive(key, purpose) for ident, key in master.items()})


@cache
def configured_index(purpose: str) -> BlindIndex:
    """The index of `purpose` from ANNALS_MASTER_KEYS, else from the stack secret (cached)."""
    secret = MasterKeySettings().master_keys
    if secret is not None:
        return index_from(parse_master_keys(secret.get_secret_value()), purpose)
    from annals.stack.secrets import secret as stack_secret
    from annals.stack.settings import StackSettings

    material = stack_secret(StackSettings(), "blind-index").encode()
    return index_from({LOCAL_ID: material}, purpose)
