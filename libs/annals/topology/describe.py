"""The topology as plain data, for tools that render deployments (Helm values, ACLs, connectors)."""

from __future__ import annotations

from typing import Any

from annals.topology.loader import Topology, topology


def describe(declared: Topology | None = None) -> dict[str, Any]:
    """Services, topics (with producer and its Kafka principal), CDC sources and projections."""
    t = declared or topology()
    services = [s.model_dump(mode="json") for s in t.services.values()]
    topics = [
        {"name": topic, "producer": service, "principal": f"relay-{service}"}
        for topic, service in t.producers.items()
    ]
    sources = [s.model_dump(mode="json") for s in t.sources.values()]
    projections = [
        {"name": p.name, "topics": list(p.topics), "database": p.database,
         "tables": [table.name for table in p.tables]}
        for p in t.projections.values()
    ]  # fmt: skip
    return {"services": services, "topics": topics, "sources": sources, "projections": projections}
