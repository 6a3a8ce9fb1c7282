"""The data lineage of the platform: which read model consumes what, and where each topic
comes from (`annals catalog`)."""

from __future__ import annotations

from dataclasses import dataclass

from annals.messaging.topics import UNLIMITED
from annals.schemas.asyncapi import SCHEMAS, service_schemas
from annals.topology import topology


@dataclass(frozen=True)
class ReadModel:
    """A read model: its database, tables, the topics and event types it consumes, its
    personal columns per table."""

    name: str
    database: str
    tables: tuple[str, ...]
    topics: tuple[str, ...]
    event_types: tuple[str, ...]
    personal_columns: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Topic:
    """A topic: who produces it, the schema versions of its event types, its retention."""

    name: str
    producer: str
    versions: dict[str, tuple[int, ...]]
    retention: str
    consumers: tuple[str, ...]


def read_models() -> list[ReadModel]:
    """Every declared projection as a read model."""
    return [
        ReadModel(
            p.name,
            p.database,
            tuple(t.name for t in p.tables),
            tuple(p.topics),
            tuple(sorted(p.handlers)),
            {table: tuple(columns) for table, columns in p.personal_columns.items()},
        )
        for p in sorted(topology().projections.values(), key=lambda p: p.name)
    ]


def _retention() -> str:
    return "unlimited" if UNLIMITED["retention.ms"] == "-1" else f"{UNLIMITED['retention.ms']} ms"


def topics() -> list[Topic]:
    """Every service topic and CDC topic prefix, with producer, schema versions and consumers."""
    declared = topology()
    models = read_models()
    out = []
    for service in sorted(declared.services.values(), key=lambda s: s.name):
        if not service.topic:
            continue
        versions: dict[str, list[int]] = {}
        for event_type, version, _ in service_schemas(service.name, SCHEMAS):
            versions.setdefault(f"{service.name}.{event_type}", []).append(version)
        readers = tuple(m.name for m in models if service.topic in m.topics)
        kept = {t: tuple(v) for t, v in versions.items()}
        out.append(Topic(service.topic, f"service {service.name}", kept, _retention(), readers))
    for source in sorted(declared.sources.values(), key=lambda s: s.name):
        prefix = f"{source.prefix}."
        readers = tuple(m.name for m in models if any(t.startswith(prefix) for t in m.topics))
        out.append(Topic(f"{prefix}<schema>.<table>", f"Debezium ({source.name}: "
                         f"{source.database})", {}, _retention(), readers))  # fmt: skip
    return out
