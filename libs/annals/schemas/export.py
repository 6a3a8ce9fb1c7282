"""The JSON Schema of an event model and its file: schemas/<service>/<Event>.v<N>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annals.eventstore.domain import DomainEvent

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_path(root: Path, service: str, model: type[DomainEvent]) -> Path:
    """Where the schema of the model's current version lives."""
    return root / service / f"{model.event_type}.v{model.schema_version}.json"


def event_schema(service: str, model: type[DomainEvent]) -> dict[str, Any]:
    """The wire schema (serialization mode) of an event's data, with Annals' annotations."""
    schema = model.model_json_schema(mode="serialization")
    for name in model.personal_fields():
        schema["properties"][name]["x-personal"] = True
    rel = f"{service}/{model.event_type}.v{model.schema_version}.json"
    return {
        "$schema": DIALECT,
        "$id": f"schemas/{rel}",
        **schema,
        "x-annals": {
            "service": service,
            "event_type": model.event_type,
            "cloudevents_type": f"{service}.{model.event_type}",
            "schema_version": model.schema_version,
        },
    }


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema (stable: sorted keys, two-space indent)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
