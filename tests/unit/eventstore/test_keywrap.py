"""Master keys wrapping subject keys: parsing, wrap/unwrap, legacy keys, wrong keys."""

from __future__ import annotations

import base64
import os

import pytest

from annals.eventstore.keywrap import (
    KEY_BYTES,
    KeyWrapper,
    MasterKeySettings,
    MasterKeyUnavailable,
    new_master_key,
    parse_master_keys,
    wrapped_by,
)

K1, K2 = os.urandom(32), os.urandom(32)


def entry(ident: str, key: bytes) -> str:
    return f"{ident}:{base64.b64encode(key).decode()}"


def test_master_keys_parse_in_order_and_refuse_bad_entries() -> None:
    keys = parse_master_keys(f"{entry('k2', K2)}, {entry('k1', K1)}")
    assert list(keys) == ["k2", "k1"] and keys["k1"] == K1
    bad = [
        "",
        "k1",
        "k 1:" + base64.b64encode(K1).decode(),
        "k1:not base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        f"{entry('k1', K1)},{entry('k1', K2)}",
    ]
    for text in bad:
        with pytest.raises(ValueError):
            parse_master_keys(text)
    assert list(parse_master_keys(new_master_key("2026-11"))) == ["2026-11"]
    with pytest.raises(ValueError):
        new_master_key("no spaces")


def test_settings_validate_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNALS_MASTER_KEYS", "k1:!!")
    with pytest.raises(ValueError, match="not valid base64"):
        MasterKeySettings()
    monkeypatch.setenv("ANNALS_MASTER_KEYS", entry("k1", K1))
    assert MasterKeySettings().master_keys is not None


def test_wrap_unwrap_binds_the_subject_and_names_the_master_key() -> None:
    wrapper = KeyWrapper({"k1": K1})
    subject_key = os.urandom(KEY_BYTES)
    stored = wrapper.wrap("customer-1", subject_key)
    assert subject_key not in stored and wrapped_by(stored) == "k1"
    assert wrapper.unwrap("customer-1", stored) == subject_key
    with pytest.raises(MasterKeyUnavailable, match="does not open"):
        wrapper.unwrap("customer-2", stored)  # a row copied to another subject does not open
    with pytest.raises(MasterKeyUnavailable, match="'k1'"):
        KeyWrapper({"k2": K2}).unwrap("customer-1", stored)
    with pytest.raises(MasterKeyUnavailable, match="does not open"):
        KeyWrapper({"k1": K2}).unwrap("customer-1", stored)


def test_rotation_order_and_legacy_keys() -> None:
    old, rotated = KeyWrapper({"k1": K1}), KeyWrapper({"k2": K2, "k1": K1})
    subject_key = os.urandom(KEY_BYTES)
    stored = old.wrap("s", subject_key)
    assert rotated.current == "k2" and rotated.unwrap("s", stored) == subject_key
    assert wrapped_by(rotated.wrap("s", subject_key)) == "k2"
    assert rotated.unwrap("s", subject_key) == subject_key, "unwrapped legacy keys pass"
    assert wrapped_by(subject_key) is None
