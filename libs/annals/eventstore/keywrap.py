"""Master keys that wrap the per-subject keys of crypto-shredding (envelope encryption).

Without them a subject's key sits in `eventstore.subject_keys` as plain bytes, so a database
backup taken before `forget` still opens that subject's personal data. Wrapped, a stored key is
useless without a master key kept outside the database. Rotating re-wraps every key under the
newest master key; once the old one is destroyed, old backups can no longer open forgotten
subjects either.

ANNALS_MASTER_KEYS lists `id:base64-key` pairs (32-byte keys), the current one first, so
rotation means prepending a key, running `annals keys rotate <service>` and then dropping the
old key. Stored form: 0x01, id length, id, 12-byte nonce, AES-GCM of the key (the subject is the
associated data). A 32-byte value is an unwrapped key from before wrapping was configured.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annals.eventstore.errors import EventStoreError

KEY_BYTES = 32
FORMAT = 1
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class MasterKeyUnavailable(EventStoreError):
    """A subject key is wrapped by a master key that is not configured (or does not match)."""


class MasterKeySettings(BaseSettings):
    """ANNALS_MASTER_KEYS: `id:base64,id:base64`, the current key first (unset: no wrapping)."""

    model_config = SettingsConfigDict(env_prefix="ANNALS_", extra="ignore")

    master_keys: SecretStr | None = None

    @field_validator("master_keys")
    @classmethod
    def _parse_check(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_master_keys(value.get_secret_value())
        return value


def parse_master_keys(text: str) -> dict[str, bytes]:
    """{id: key} of `id:base64,...` in the given order, or ValueError saying what is wrong."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        ident, sep, encoded = item.partition(":")
        if not sep or not _ID.match(ident):
            raise ValueError("master keys are `id:base64` pairs; ids are 1-32 of [A-Za-z0-9_.-]")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"master key {ident!r} is not valid base64") from None
        if len(key) != KEY_BYTES or ident in keys:
            raise ValueError(f"master key {ident!r} must be 32 bytes and listed once")
        keys[ident] = key
    if not keys:
        raise ValueError("ANNALS_MASTER_KEYS is set but lists no key")
    return keys


def new_master_key(ident: str) -> str:
    """A fresh `id:base64` entry for ANNALS_MASTER_KEYS."""
    if not _ID.match(ident):
        raise ValueError("ids are 1-32 of [A-Za-z0-9_.-]")
    return f"{ident}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class KeyWrapper:
    """Wraps subject keys under the current master key; unwraps under any configured one."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("a KeyWrapper needs at least one master key")
        self._keys = {ident: AESGCM(key) for ident, key in keys.items()}
        self.current = next(iter(keys))

    def wrap(self, subject: str, key: bytes) -> bytes:
        """The stored form of a subject key."""
        ident = self.current.encode()
        nonce = os.urandom(12)
        sealed = self._keys[self.current].encrypt(nonce, key, _aad(subject))
        return bytes([FORMAT, len(ident)]) + ident + nonce + sealed

    def unwrap(self, subject: str, stored: bytes) -> bytes:
        """The subject key of a stored value (an unwrapped legacy key passes through)."""
        if len(stored) == KEY_BYTES:
            return stored
        ident = wrapped_by(stored)
        cipher = self._keys.get(ident or "")
        if cipher is None:
            raise MasterKeyUnavailable(
                f"the key of subject {subject!r} is wrapped by master key {ident!r}, "
                "which ANNALS_MASTER_KEYS does not list"
            )
        start = 2 + len(ident or "")
        try:
            return cipher.decrypt(stored[start : start + 12], stored[start + 12 :], _aad(subject))
        except InvalidTag:
            raise MasterKeyUnavailable(
                f"master key {ident!r} does not open the key of subject {subject!r}"
            ) from None


def wrapped_by(stored: bytes) -> str | None:
    """The id of the master key that wrapped a stored value (None: stored unwrapped)."""
    if len(stored) == KEY_BYTES or not stored or stored[0] != FORMAT:
        return None
    return stored[2 : 2 + stored[1]].decode("ascii", "replace")


def _aad(subject: str) -> bytes:
    return b"annals-subject-key:" + subject.encode()


@cache
def configured_wrapper() -> KeyWrapper | None:
    """The wrapper of ANNALS_MASTER_KEYS (read once per process), or None when unset."""
    secret = MasterKeySettings().master_keys
    return None if secret is None else KeyWrapper(parse_master_keys(secret.get_secret_value()))
