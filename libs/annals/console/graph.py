"""The topology as a graph of nodes in columns, from `annals.topology.describe()` (pure data).

Columns, left to right: command services and legacy sources; their event stores and Debezium
connectors; topics (event topics and CDC topics); projections; the APIs that read them (the
query API, or a command service that keeps its own read models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("services", "stores / CDC", "topics", "projections", "read APIs")


@dataclass
class Node:
    """One box of the picture: its id, label, column, health and key figures."""

    id: str
    label: str
    kind: str
    column: int
    href: str = ""
    health: str = "unknown"  # ok | warn | bad | unknown
    figures: list[str] = field(default_factory=list)
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Edge:
    """An arrow from one node to another."""

    source: str
    target: str


@dataclass
class Graph:
    """Nodes by id and the edges between them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> None:
        """Add a node once (the first declaration wins)."""
        self.nodes.setdefault(node.id, node)

    def link(self, source: str, target: str) -> None:
        """Add an edge once."""
        edge = Edge(source, target)
        if edge not in self.edges:
            self.edges.append(edge)

    def column(self, index: int) -> list[Node]:
        """The nodes of one column, in declaration order."""
        return [n for n in self.nodes.values() if n.column == index]


def build(described: dict[str, Any]) -> Graph:
    """The graph of a described topology."""
    g = Graph()
    services = {s["name"]: s for s in described["services"]}
    for s in services.values():
        if s["kind"] == "command":
            _command_service(g, s)
    for source in described["sources"]:
        g.add(Node(f"source:{source['name']}", f"{source['name']} DB", "source", 0))
        g.add(Node(f"connector:{source['name']}", f"Debezium {source['name']}", "connector", 1,
                   href="/publishers"))  # fmt: skip
        g.link(f"source:{source['name']}", f"connector:{source['name']}")
    prefixes = {s["prefix"]: s["name"] for s in described["sources"]}
    for p in described["projections"]:
        _projection(g, p, prefixes)
        for reader in _readers(services, p["database"]):
            g.link(f"projection:{p['name']}", reader)
    return g


def _command_service(g: Graph, s: dict[str, Any]) -> None:
    name = s["name"]
    g.add(Node(f"service:{name}", f"{name} service", "service", 0))
    g.add(Node(f"store:{name}", f"{name} store", "store", 1, href="/publishers"))
    g.link(f"service:{name}", f"store:{name}")
    if s["topic"]:
        _topic(g, s["topic"])
        g.link(f"store:{name}", f"topic:{s['topic']}")


def _topic(g: Graph, topic: str) -> None:
    g.add(Node(f"topic:{topic}", topic, "topic", 2, href=f"/live?topic={topic}"))


def _projection(g: Graph, p: dict[str, Any], prefixes: dict[str, str]) -> None:
    node = f"projection:{p['name']}"
    g.add(Node(node, p["name"], "projection", 3, href=f"/projections#{p['name']}"))
    for topic in p["topics"]:
        _topic(g, topic)
        g.link(f"topic:{topic}", node)
        source = prefixes.get(topic.split(".", 1)[0])
        if source is not None:
            g.link(f"connector:{source}", f"topic:{topic}")


def _readers(services: dict[str, dict[str, Any]], database: str) -> list[str]:
    """The read-API nodes of the services that read a projection's database (added to g)."""
    return [
        f"reads:{s['name']}"
        for s in services.values()
        if s["database"] == database and (s["kind"] == "query" or s["read_models"])
    ]


def add_readers(g: Graph, described: dict[str, Any]) -> None:
    """Add the read-API nodes the edges point to."""
    for s in described["services"]:
        label = f"{s['name']} API" if s["kind"] == "query" else f"{s['name']} reads"
        if f"reads:{s['name']}" in {e.target for e in g.edges}:
            g.add(Node(f"reads:{s['name']}", label, "query", 4))


def topology_graph(described: dict[str, Any]) -> Graph:
    """build() with its read-API nodes, laid out."""
    g = build(described)
    add_readers(g, described)
    layout(g)
    return g


NODE_W, NODE_H, COL_W, ROW_H, TOP = 190, 62, 230, 78, 34


def layout(g: Graph) -> None:
    """Place each column's nodes top to bottom, columns left to right, centred vertically."""
    tallest = max((len(g.column(i)) for i in range(len(COLUMNS))), default=0)
    for i in range(len(COLUMNS)):
        column = g.column(i)
        offset = (tallest - len(column)) * ROW_H // 2
        for row, node in enumerate(column):
            node.x, node.y = 10 + i * COL_W, TOP + offset + row * ROW_H


def size(g: Graph) -> tuple[int, int]:
    """Width and height of the picture."""
    tallest = max((len(g.column(i)) for i in range(len(COLUMNS))), default=1)
    return 10 + len(COLUMNS) * COL_W, TOP + tallest * ROW_H + 10


def path(g: Graph, edge: Edge) -> str:
    """An SVG path from the right side of the source to the left side of the target."""
    a, b = g.nodes[edge.source], g.nodes[edge.target]
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if x2 <= x1:  # same or earlier column: go around below
        x2, y2 = b.x + NODE_W // 2, b.y + NODE_H
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
