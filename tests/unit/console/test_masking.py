"""Personal envelopes shown as *** without read:pii, decrypted with it."""

import uuid

from annals.console.masking import MASK, reveal, subjects
from annals.eventstore.codec import encrypt_value

KEY = bytes(range(32))


def _data() -> dict:
    sealed = encrypt_value(KEY, "customer-c1", uuid.uuid4(), "name", "Ada Lovelace")
    return {"customer_id": "c1", "name": sealed, "items": [{"sku": "x"}]}


def test_envelopes_are_masked_without_keys() -> None:
    assert reveal(_data(), None) == {"customer_id": "c1", "name": MASK, "items": [{"sku": "x"}]}


def test_envelopes_are_decrypted_with_the_subjects_key() -> None:
    data = _data()
    assert subjects(data) == {"customer-c1"}
    assert reveal(data, {"customer-c1": KEY})["name"] == "Ada Lovelace"


def test_a_forgotten_subject_shows_as_forgotten() -> None:
    assert reveal(_data(), {})["name"] == "(forgotten)"
