"""A breaking change of an event: in place it fails `annals schemas check` and the registry's 409;
as a new schema version with an upcaster both pass, and stored v1 data reads as v2."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import httpx

from annals.eventstore.domain import DomainEvent
from annals.eventstore.registry import EventRegistry
from annals.schemas.check import compare
from annals.schemas.export import event_schema, render
from annals.schemas.publish import register_all
from tests.support.registry import Served

TOPICS = {"test": "test.events"}


class Placed(DomainEvent):
    event_type: ClassVar[str] = "Placed"

    order_id: str
    total: int


class PlacedRetyped(DomainEvent):  # total becomes a decimal string: a breaking change
    event_type: ClassVar[str] = "Placed"

    order_id: str
    total: str


def _v2() -> type[DomainEvent]:
    class Placed(DomainEvent):  # the same change as schema version 2 (file Placed.v2.json)
        event_type: ClassVar[str] = "Placed"
        schema_version: ClassVar[int] = 2

        order_id: str
        total: str

    return Placed


def _register(served: Served, root: Path) -> list[str]:
    headers = {"Authorization": f"Bearer {served.token('admin')}"}
    with httpx.Client(base_url=served.url, headers=headers) as admin:
        return register_all(admin, root, TOPICS).refused


def test_a_breaking_change_needs_a_new_version_and_an_upcaster(
    served: Served, tmp_path: Path
) -> None:
    assert compare(tmp_path, {"test": [Placed]}, write=True).ok
    assert not _register(served, tmp_path)
    in_place = compare(tmp_path, {"test": [PlacedRetyped]})
    assert in_place.incompatible and "bump PlacedRetyped.schema_version" in in_place.incompatible[0]
    v1 = tmp_path / "test" / "Placed.v1.json"
    kept = v1.read_text()
    v1.write_text(render(event_schema("test", PlacedRetyped)))  # the breaking edit, registered
    refused = _register(served, tmp_path)
    assert refused and refused[0].startswith("test.events-Placed.v1: ")
    v1.write_text(kept)
    v2 = _v2()
    events = EventRegistry([v2])

    @events.upcaster("Placed", 1)
    def _total_as_text(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "total": str(data["total"])}

    assert compare(tmp_path, {"test": [v2]}, write=True).ok  # v2 written, v1 kept
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == [
        "Placed.v1.json", "Placed.v2.json"
    ]  # fmt: skip
    assert not _register(served, tmp_path)  # a new subject, test.events-Placed.v2
    assert events.upcast("Placed", 1, {"order_id": "o1", "total": 5})["total"] == "5"
