"""Each compatibility level against each kind of schema change: what it accepts and refuses."""

from __future__ import annotations

from typing import Any

import pytest

from annals.schemas.compat import readable
from annals.schemas.levels import Level, problems


def _obj(props: dict[str, Any], required: list[str], *, extra: Any = False) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": extra}  # fmt: skip


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
BASE = _obj({"id": STR, "n": INT}, ["id", "n"])
OPEN = _obj({"id": STR, "n": INT}, ["id", "n"], extra=True)
# name -> (old, new)
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "same (annotations only)": (BASE, {**BASE, "title": "T", "description": "d"}),
    "added optional property": (BASE, _obj({"id": STR, "n": INT, "note": STR}, ["id", "n"])),
    "removed optional property": (_obj({"id": STR, "n": INT, "note": STR}, ["id", "n"]), BASE),
    "removed required property": (BASE, _obj({"id": STR}, ["id"])),
    "type widened": (BASE, _obj({"id": STR, "n": NUM}, ["id", "n"])),
    "type narrowed": (_obj({"id": STR, "n": NUM}, ["id", "n"]), BASE),
    "nullable added": (BASE, _obj({"id": STR, "n": {"type": ["integer", "null"]}}, ["id", "n"])),
    "new required property": (BASE, _obj({"id": STR, "n": INT, "c": STR}, ["id", "n", "c"])),
    "enum value added": (
        _obj({"s": {"enum": ["a", "b"]}}, ["s"]),
        _obj({"s": {"enum": ["a", "b", "c"]}}, ["s"]),
    ),
    "enum value removed": (
        _obj({"s": {"enum": ["a", "b"]}}, ["s"]),
        _obj({"s": {"enum": ["a"]}}, ["s"]),
    ),
    "additionalProperties closed": (OPEN, BASE),
    "additionalProperties opened": (BASE, OPEN),
}
# change -> (backward ok, forward ok)
EXPECTED: dict[str, tuple[bool, bool]] = {
    "same (annotations only)": (True, True),
    "added optional property": (True, False),
    "removed optional property": (False, True),
    "removed required property": (False, False),
    "type widened": (True, False),
    "type narrowed": (False, True),
    "nullable added": (True, False),
    "new required property": (False, False),  # closed: old readers refuse c too
    "enum value added": (True, False),
    "enum value removed": (False, True),
    "additionalProperties closed": (False, True),
    "additionalProperties opened": (True, False),
}


def _accepts(level: Level, backward: bool, forward: bool) -> bool:
    base = level.value.removesuffix("_TRANSITIVE")
    return {"BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward,
            "NONE": True}[base]  # fmt: skip


CASES = [(level, name) for level in Level for name in CHANGES]


@pytest.mark.parametrize(("level", "change"), CASES, ids=[f"{lv}-{c}" for lv, c in CASES])
def test_each_level_accepts_and_refuses_each_change(level: Level, change: str) -> None:
    old, new = CHANGES[change]
    found = problems(level, new, [old])
    assert (not found) is _accepts(level, *EXPECTED[change]), found


def test_transitive_levels_compare_every_earlier_version() -> None:
    v1 = _obj({"id": STR}, ["id"])
    narrowed = _obj({"id": {"type": "string", "maxLength": 5}}, ["id"])
    assert problems(Level.BACKWARD, narrowed, [v1]) != []
    assert problems(Level.BACKWARD, v1, [narrowed]) == []
    assert problems(Level.BACKWARD_TRANSITIVE, v1, [v1, narrowed]) == []
    wide = _obj({"id": {"type": "string", "maxLength": 9}}, ["id"])
    assert problems(Level.BACKWARD, wide, [v1, narrowed]) == []
    assert problems(Level.BACKWARD_TRANSITIVE, wide, [v1, narrowed]) != []


def test_problems_name_the_field_and_the_version() -> None:
    old, new = CHANGES["type narrowed"]
    assert problems(Level.BACKWARD, new, [old]) == [
        'backward (version 1): field \'n\' changed its type from "number" to "integer" (narrowed)'
    ]


def test_refs_and_optional_fields_as_pydantic_writes_them() -> None:
    old = {"$defs": {"Line": _obj({"sku": STR}, ["sku"])}, **_obj(
        {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
         "note": {"anyOf": [STR, {"type": "null"}], "default": None}}, ["lines"])}  # fmt: skip
    new = {"$defs": {"Line": _obj({"sku": STR, "qty": INT}, ["sku", "qty"])}, **_obj(
        {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
         "note": {"anyOf": [STR, {"type": "null"}]}}, ["lines"])}  # fmt: skip
    assert readable(new, old) == ["new field 'lines[].qty' is required and has no default"]
    assert readable(old, old) == []
