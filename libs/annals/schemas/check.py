"""Drift between the event models and schemas/, and incompatible changes of a stored version."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from annals.eventstore.domain import DomainEvent
from annals.schemas.compat import incompatibilities
from annals.schemas.export import event_schema, render, schema_path


@dataclass
class Report:
    """What `check` found: incompatible changes (fatal), drift (stale files) and files written."""

    incompatible: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No incompatible change and no drift."""
        return not self.incompatible and not self.drift


def compare(
    root: Path, models: Mapping[str, list[type[DomainEvent]]], *, write: bool = False
) -> Report:
    """Compare each model with its committed schema; with `write`, export compatible ones."""
    report = Report()
    for service, events in models.items():
        known = set()
        for model in events:
            path = schema_path(root, service, model)
            known.add(path.name)
            text = render(event_schema(service, model))
            name = f"{service}/{path.name}"
            if path.exists():
                committed = path.read_text()
                if committed == text:
                    continue
                problems = incompatibilities(json.loads(committed), json.loads(text))
                if problems:
                    report.incompatible.append(
                        f"{name}: {'; '.join(problems)} — bump {model.__name__}.schema_version "
                        f"and register an upcaster instead of changing v{model.schema_version}"
                    )
                    continue
                why = f"{name} differs from the model (compatible change)"
            else:
                why = f"{name} is missing"
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                report.written.append(path)
            else:
                report.drift.append(why)
        report.drift.extend(_orphans(root / service, service, events, known))
    return report


def _orphans(
    folder: Path, service: str, events: list[type[DomainEvent]], known: set[str]
) -> list[str]:
    """Schema files of no model; older versions of a current event type are kept on purpose."""
    current = {m.event_type: m.schema_version for m in events}
    found = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        event_type, _, version = path.name.removesuffix(".json").rpartition(".v")
        if path.name in known:
            continue
        if event_type in current and version.isdigit() and int(version) < current[event_type]:
            continue
        found.append(f"{service}/{path.name} belongs to no event model")
    return found
