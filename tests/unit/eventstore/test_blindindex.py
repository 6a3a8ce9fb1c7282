"""The keyed hash of personal lookups: not computable from the value alone, rotates with keys."""

from __future__ import annotations

import hashlib

from annals.eventstore.blindindex import BlindIndex, index_from


def test_mac_is_keyed_and_names_its_key() -> None:
    email = "ada@example.com"
    index = index_from({"m1": b"\x01" * 32}, "email-reservation")
    stored = index.mac(email)
    assert stored.startswith("m1:") and index.is_current(stored)
    for plain in (hashlib.sha256, hashlib.sha1, hashlib.md5):
        assert plain(email.encode()).hexdigest() not in stored
    assert stored != index_from({"m1": b"\x01" * 32}, "idempotency").mac(email)
    assert stored != index_from({"m1": b"\x02" * 32}, "email-reservation").mac(email)


def test_rotation_keeps_matching_old_values() -> None:
    old = index_from({"m1": b"\x01" * 32}, "p")
    rotated = index_from({"m2": b"\x02" * 32, "m1": b"\x01" * 32}, "p")
    assert rotated.candidates("x")[1] == old.mac("x")
    assert rotated.mac("x").startswith("m2:") and not rotated.is_current(old.mac("x"))
    assert BlindIndex({"a": b"k"}).current == "a"
