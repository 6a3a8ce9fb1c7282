"""Colour the topology's nodes by health and give each its key figures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from annals.console import platform
from annals.console.graph import Graph
from annals.projections.status import ProjectionStatus

MIB = platform.MIB


@dataclass
class Snapshot:
    """What the components said, gathered once for one page."""

    ends: dict[tuple[str, int], int] | None = None
    projections: list[ProjectionStatus] = field(default_factory=list)
    publishers: list[platform.Publisher] = field(default_factory=list)
    connectors: list[platform.Connector] = field(default_factory=list)
    ready: dict[str, bool] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # topic -> records/s (Prometheus)


async def snapshot(topics: list[str], rates: Any = None) -> Snapshot:
    """Ask every component at once; `rates` is an awaitable of topic rates, if any."""
    ends = await platform.topic_ends(topics)
    found = await asyncio.gather(
        platform.projections(ends), platform.publishers(),
        asyncio.to_thread(platform.connectors), platform.ready(platform.service_urls()),
    )  # fmt: skip
    out = Snapshot(ends, *found)
    if rates is not None:
        out.rates = await rates
    return out


def colour(g: Graph, s: Snapshot) -> None:
    """Set each node's health and figures from the snapshot."""
    for name, up in s.ready.items():
        for node_id in (f"service:{name}", f"reads:{name}"):
            if node_id in g.nodes:
                g.nodes[node_id].health = "ok" if up else "bad"
                g.nodes[node_id].figures = ["ready" if up else "not ready"]
    _topics(g, s)
    for p in s.projections:
        _projection(g, p)
    for pub in s.publishers:
        _store(g, pub)
    for connector in s.connectors:
        _connector(g, connector)


def _topics(g: Graph, s: Snapshot) -> None:
    for node in g.nodes.values():
        if node.kind != "topic":
            continue
        if s.ends is None:
            node.health, node.figures = "unknown", ["Kafka unreachable"]
            continue
        parts = [end for (topic, _), end in s.ends.items() if topic == node.label]
        node.health = "ok" if parts else "warn"
        node.figures = [f"{sum(parts):,} records" if parts else "not created"]
        if node.label in s.rates:
            node.figures.append(f"{s.rates[node.label]:,.1f}/s")


def _projection(g: Graph, p: ProjectionStatus) -> None:
    node = g.nodes.get(f"projection:{p.name}")
    if node is None:
        return
    lag = "?" if p.lag_records is None else f"{p.lag_records:,}"
    node.figures = [f"v{p.live or '-'} {p.state}", f"lag {lag}"]
    if p.parked_streams or p.dead_letters:
        node.figures.append(f"{p.parked_streams} parked, {p.dead_letters} DLQ")
    if p.error or p.state in ("stalled", "missing"):
        node.health = "bad"
    elif p.state != "live" or p.parked_streams or p.dead_letters or p.lag_records is None:
        node.health = "warn"
    else:
        node.health = "ok"


def _store(g: Graph, pub: platform.Publisher) -> None:
    node = g.nodes.get(f"store:{pub.row.service}")
    if node is None:
        return
    row = pub.row
    if row.error:
        node.health, node.figures = "bad", [row.error[:40]]
        return
    node.figures = [f"{row.mode}", f"unpublished {row.lag if row.lag is not None else '?'}"]
    relay_down = row.mode == "relay" and (row.pid is None or pub.holder is None)
    node.health = "bad" if relay_down else "warn" if (row.lag or 0) > 1000 else "ok"


def _connector(g: Graph, c: platform.Connector) -> None:
    for node in g.nodes.values():
        if node.kind != "connector" or node.id != f"connector:{_source_of(g, c)}":
            continue
        state = c.status.state if c.status else "unknown"
        node.figures = [state]
        if c.slot is not None:
            node.figures.append(f"WAL {c.slot.retained_bytes / MIB:.1f} MiB")
        failed = c.status is None or c.status.failed or bool(c.error)
        node.health = "bad" if failed else "ok" if c.status and c.status.running else "warn"


def _source_of(g: Graph, c: platform.Connector) -> str:
    """The source a Debezium connector captures: the one whose CDC topics use its prefix."""
    if not c.prefix:
        return ""
    for edge in g.edges:
        if edge.source.startswith("connector:") and edge.target.startswith(f"topic:{c.prefix}."):
            return edge.source.split(":", 1)[1]
    return c.prefix if f"connector:{c.prefix}" in g.nodes else ""
