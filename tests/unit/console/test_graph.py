"""The topology picture: every declared service, topic and projection is a node, linked in order."""

from __future__ import annotations

from annals.console import graph, health
from annals.console.platform import Connector
from annals.projections.status import ProjectionStatus
from annals.topology import describe


def test_every_declared_part_is_a_node() -> None:
    described = describe()
    g = graph.topology_graph(described)
    for s in described["services"]:
        assert f"service:{s['name']}" in g.nodes or f"reads:{s['name']}" in g.nodes
    for t in described["topics"]:
        assert f"topic:{t['name']}" in g.nodes
    for p in described["projections"]:
        assert f"projection:{p['name']}" in g.nodes
        for topic in p["topics"]:
            assert graph.Edge(f"topic:{topic}", f"projection:{p['name']}") in g.edges
    for source in described["sources"]:
        assert graph.Edge(f"source:{source['name']}", f"connector:{source['name']}") in g.edges


def test_columns_run_left_to_right_and_boxes_do_not_overlap() -> None:
    g = graph.topology_graph(describe())
    for edge in g.edges:
        assert g.nodes[edge.source].column < g.nodes[edge.target].column
    places = {(n.x, n.y) for n in g.nodes.values()}
    assert len(places) == len(g.nodes)
    width, height = graph.size(g)
    assert all(
        n.x + graph.NODE_W <= width and n.y + graph.NODE_H <= height for n in g.nodes.values()
    )


def test_health_colours_projections_topics_and_connectors() -> None:
    described = describe()
    g = graph.topology_graph(described)
    name = described["projections"][0]["name"]
    topic = described["topics"][0]["name"]
    stalled = ProjectionStatus(name, "readmodels", live=1, state="stalled", lag_records=5)
    connector = Connector("legacy-erp", config={"topic.prefix": "legacy"})
    snap = health.Snapshot(ends={(topic, 0): 7}, projections=[stalled], connectors=[connector])
    health.colour(g, snap)
    assert g.nodes[f"projection:{name}"].health == "bad"
    assert "lag 5" in g.nodes[f"projection:{name}"].figures
    assert g.nodes[f"topic:{topic}"].figures == ["7 records"]
    assert g.nodes["connector:legacy"].health == "bad"  # no status: Connect did not answer
