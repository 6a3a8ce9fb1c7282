"""The report's pure parts: classifying data, states, and the CDC columns from the specs."""

import json
from pathlib import Path

from annals.privacy.report import (
    ABSENT,
    READABLE,
    UNKNOWN,
    UNREADABLE,
    Finding,
    Report,
    classify,
    record_data,
    state_of,
)
from annals.privacy.sources import cdc_personal_columns

SEALED = {"$pii": "v1", "s": "ada", "ct": "..."}


def test_classify_counts_clear_personal_values_and_the_subjects_ciphertext():
    names = {"email", "name"}
    assert classify({"email": "a@b.c", "tier": "gold"}, "ada", names) == (1, 0)
    assert classify({"email": SEALED, "name": SEALED}, "ada", names) == (0, 2)
    assert classify({"email": SEALED}, "bob", names) == (0, 0)  # someone else's
    assert classify({"email": None, "name": ""}, "ada", names) == (0, 0)
    assert classify("not a mapping", "ada", names) == (0, 0)


def test_states_follow_the_key():
    assert state_of(1, 0, key_present=False) == READABLE  # clear text needs no key
    assert state_of(0, 3, key_present=True) == READABLE
    assert state_of(0, 3, key_present=False) == UNREADABLE
    assert state_of(0, 0, key_present=True) == ABSENT


def test_record_data_reads_structured_cloudevents_and_plain_values():
    event = {"specversion": "1.0", "data": {"email": SEALED}}
    assert record_data(json.dumps(event).encode()) == {"email": SEALED}
    assert record_data(b'{"email": "x"}') == {"email": "x"}
    assert record_data(b"\xff not json") is None and record_data(None) is None


def test_readable_counts_unknown_places_as_not_proven_clean():
    found = Report("ada", [Finding("a", "x", ABSENT), Finding("b", "y", UNKNOWN, "away")])
    assert [f.place for f in found.readable] == ["y"]
    assert found.as_dict()["readable"] == 1


def test_cdc_columns_come_from_the_connectors_exclusion_lists(tmp_path: Path):
    config = {"topic.prefix": "legacy",
              "column.exclude.list": "public.people.email,public.people.phone"}  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps({"name": "a", "config": config}))
    assert cdc_personal_columns(tmp_path) == {"legacy.public.people": ("email", "phone")}
    shipped = cdc_personal_columns()
    assert "email" in shipped["legacy.public.legacy_customers"]
