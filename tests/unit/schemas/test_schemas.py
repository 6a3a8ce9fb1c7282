"""The committed schemas/ match the event models; the compatibility rules catch breaking changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from typer.testing import CliRunner

from annals.cli.main import app
from annals.eventstore.domain import DomainEvent
from annals.schemas.catalog import event_models
from annals.schemas.check import compare
from annals.schemas.compat import incompatibilities
from annals.schemas.export import event_schema
from annals.stack.settings import REPO_ROOT


def test_committed_schemas_match_the_models() -> None:
    report = compare(REPO_ROOT / "schemas", event_models())
    assert report.ok, report.incompatible + report.drift


def test_cli_check_passes_on_the_repository() -> None:
    result = CliRunner().invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output


class Placed(DomainEvent):
    event_type: ClassVar[str] = "Placed"

    order_id: str
    total: int


def _schema(model: type[DomainEvent]) -> dict:
    return event_schema("test", model)


def test_compatible_additions_pass() -> None:
    class Placed2(DomainEvent):
        event_type: ClassVar[str] = "Placed"

        order_id: str
        total: int
        note: str | None = None

    assert incompatibilities(_schema(Placed), _schema(Placed2)) == []


def test_removed_retyped_and_new_required_fields_fail() -> None:
    class Removed(DomainEvent):
        order_id: str

    class Retyped(DomainEvent):
        order_id: str
        total: str

    class NewRequired(DomainEvent):
        order_id: str
        total: int
        channel: str

    assert incompatibilities(_schema(Placed), _schema(Removed)) == ["field 'total' was removed"]
    assert incompatibilities(_schema(Placed), _schema(Retyped)) == [
        'field \'total\' changed its type from "integer" to "string" (narrowed)'
    ]
    assert incompatibilities(_schema(Placed), _schema(NewRequired)) == [
        "new field 'channel' is required and has no default"
    ]


def test_check_reports_drift_and_incompatibility(tmp_path: Path) -> None:
    models = {"test": [Placed]}
    report = compare(tmp_path, models)
    assert report.drift == ["test/Placed.v1.json is missing"]
    written = compare(tmp_path, models, write=True)
    assert written.ok and len(written.written) == 1
    assert compare(tmp_path, models).ok
    path = tmp_path / "test" / "Placed.v1.json"
    stored = json.loads(path.read_text())
    stored["properties"]["legacy"] = {"type": "string"}
    path.write_text(json.dumps(stored))
    broken = compare(tmp_path, models)
    assert broken.incompatible and "field 'legacy' was removed" in broken.incompatible[0]
    (tmp_path / "test" / "Ghost.v1.json").write_text("{}")
    assert any(
        "Ghost.v1.json belongs to no event model" in d for d in compare(tmp_path, models).drift
    )
