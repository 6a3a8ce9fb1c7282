"""Where a report looks: the databases, Kafka topics and CDC topics of the declared platform."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from annals.connect.configs import discover
from annals.connect.errors import ConfigFileError
from annals.eventstore.registry import EventRegistry
from annals.eventstore.streams import stream_id
from annals.projections.settings import ProjectorSettings
from annals.topology import topology


@dataclass(frozen=True)
class Sources:
    """DSNs, the Kafka bootstrap and topic names a report reads (read-only)."""

    keys_dsn: str
    store_dsns: Mapping[str, str]
    database_dsns: Mapping[str, str]
    bootstrap: str
    topic: Callable[[str], str]
    topic_prefix: str = ""
    # Physical CDC topic -> its personal columns (those the connector must leave out).
    cdc: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kafka_component: str = "admin"
    scan_seconds: float = 20.0
    database_seconds: float = 20.0  # each database: connecting and every query of the report

    @classmethod
    def of(cls, settings: ProjectorSettings | None = None, **overrides: object) -> Sources:
        """The sources of the projector settings (the stack's roles), connector specs on disk."""
        s = settings or ProjectorSettings()
        values: dict[str, object] = {
            "keys_dsn": s.keys_dsn, "store_dsns": dict(s.store_dsns),
            "database_dsns": dict(s.database_dsns), "bootstrap": s.bootstrap,
            "topic": s.topic, "topic_prefix": s.topic_prefix, "cdc": cdc_personal_columns(),
        }  # fmt: skip
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def subject_streams(subject: str) -> list[str]:
    """The stream ids the subject's own events are in (the key holder's stream types)."""
    return [stream_id(kind, subject) for kind in topology().key_holder.stream_types]


def personal_names() -> frozenset[str]:
    """Every field name any declared event marks personal."""
    from annals.projections.process import registries

    names: set[str] = set()
    for registry in registries().values():
        names |= _names(registry)
    return frozenset(names)


def _names(registry: EventRegistry) -> set[str]:
    return {name for t in registry.event_types for name in registry.personal(t)}


def cdc_personal_columns(folder: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Topic -> personal columns, from the connectors' `column.exclude.list` (schema.table.col)."""
    try:
        paths = discover(folder)
    except ConfigFileError:
        return {}
    out: dict[str, list[str]] = {}
    for path in paths:
        config = json.loads(path.read_text()).get("config", {})
        prefix = config.get("topic.prefix", "")
        for entry in filter(None, config.get("column.exclude.list", "").split(",")):
            schema, table, column = entry.strip().split(".")[-3:]
            out.setdefault(f"{prefix}.{schema}.{table}", []).append(column)
    return {topic: tuple(columns) for topic, columns in out.items()}
