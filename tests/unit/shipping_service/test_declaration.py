"""The declaration joins the platform's topology, and the app documents every command."""

from __future__ import annotations

from importlib.metadata import entry_points

from shipping.declaration import SERVICE
from shipping.entrypoints.app import create_app

from annals.topology import topology
from annals.topology.loader import PROJECTIONS, SERVICES, SOURCES, Topology


def test_shipping_is_declared_with_its_own_database_and_topic() -> None:
    every = [e for g in (SERVICES, SOURCES, PROJECTIONS) for e in entry_points(group=g)]
    assert Topology.from_entries(every).service("shipping") == SERVICE
    assert (SERVICE.database, SERVICE.topic) == ("shipping", "shipping.events")
    assert topology().producers["shipping.events"] == "shipping"


def test_the_app_routes_every_command() -> None:
    paths = set(create_app().openapi()["paths"])
    assert {"/shipments", "/shipments/{shipment_id}/dispatch"} <= paths
    assert "/shipments/{shipment_id}/deliver" in paths
