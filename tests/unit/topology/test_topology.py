"""The declared topology: what the installed packages declare, and clear errors for bad ones."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from annals.topology import Service, Source, Topology, TopologyError, describe, topology
from annals.topology.loader import PROJECTIONS, SERVICES, SOURCES, command_plugins

HERE = "tests.unit.topology.test_topology"
SHOP = Service(
    name="shop",
    app="shop.app:create_app",
    settings="shop.settings:ShopSettings",
    stream_types=("basket",),
    events="shop.events:EVENTS",
    scopes=("shop:write",),
)
RIVAL = Service(
    name="rival",
    app="rival.app:create_app",
    settings="rival.settings:RivalSettings",
    stream_types=("basket",),
    events="rival.events:EVENTS",
)
NOT_A_SERVICE = {"name": "shop"}


def service(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name, f"{HERE}:{attribute}", SERVICES)


def test_the_installed_platform_declares_its_services_sources_and_projections() -> None:
    declared = topology()
    assert set(declared.services) == {"orders", "customers", "shipping", "query"}
    assert declared.producers == {
        "orders.events": "orders",
        "customers.events": "customers",
        "shipping.events": "shipping",
    }
    assert declared.topic_of_stream_type == {
        "order": "orders.events",
        "customer": "customers.events",
        "shipment": "shipping.events",
    }
    assert declared.cdc_origins == {"legacy": ("postgresql", "legacy_erp")}
    assert declared.key_holder.name == "customers"
    scopes = {"orders:write", "customers:write", "shipping:write", "read", "read:pii"}
    assert scopes == set(declared.scopes)
    projections = declared.projections
    assert set(projections) == {
        "order_summary", "customer_orders", "products", "daily_sales", "customer_status",
        "shipments",
    }  # fmt: skip
    assert projections["products"].topics == ("legacy.public.products",)


def test_conventions_fill_database_roles_and_topic() -> None:
    assert (SHOP.database, SHOP.owner_role, SHOP.app_role, SHOP.topic) == (
        "shop", "shop_owner", "shop_app", "shop.events"
    )  # fmt: skip


def test_a_command_service_without_events_is_refused() -> None:
    with pytest.raises(ValueError, match="needs stream_types and events"):
        Service(name="bare", app="bare.app:create_app", settings="bare.settings:S")


def test_aggregates_are_declared_for_the_services_own_stream_types() -> None:
    assert topology().service("orders").aggregates == {"order": "orders.domain.order:Order"}
    with pytest.raises(ValueError, match=r"declares aggregates of \['cart'\]"):
        Service(name="shop", app="shop.app:create_app", settings="shop.settings:S",
                stream_types=("order",), events="shop.events:EVENTS",
                aggregates={"cart": "shop.cart:Cart"})  # fmt: skip


def test_a_reference_must_be_module_colon_attribute() -> None:
    with pytest.raises(ValueError, match="app"):
        Service(name="bad", kind="query", app="bad.app.create_app", settings="bad.settings:S")


def test_a_declaration_that_does_not_import_names_its_entry_point() -> None:
    entry = EntryPoint("ghost", "ghost_package.declaration:SERVICE", SERVICES)
    with pytest.raises(TopologyError, match=r"ghost = 'ghost_package\.declaration:SERVICE' does"):
        Topology.from_entries([entry])


def test_a_declaration_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TopologyError, match="is a dict, not a Service"):
        Topology.from_entries([service("shop", "NOT_A_SERVICE")])


def test_an_entry_point_must_carry_the_declarations_name() -> None:
    with pytest.raises(TopologyError, match="entry point shops declares 'shop'"):
        Topology.from_entries([service("shops", "SHOP")])


def test_a_name_declared_twice_is_refused() -> None:
    twice = [service("shop", "SHOP"), EntryPoint("shop", "elsewhere:SERVICE", SERVICES)]
    with pytest.raises(TopologyError, match="'shop' is declared twice"):
        Topology.from_entries(twice)


def test_two_services_claiming_one_stream_type_are_refused() -> None:
    with pytest.raises(TopologyError, match="both declare the stream type 'basket'"):
        Topology.from_entries([service("shop", "SHOP"), service("rival", "RIVAL")])


def test_a_source_and_a_service_sharing_a_database_are_refused() -> None:
    source = Source(
        name="erp", connector="postgresql", database="shop", owner_role="o", prefix="erp"
    )
    with pytest.raises(TopologyError, match="both declare the database 'shop'"):
        Topology({"shop": SHOP}, {"erp": source})


def test_a_projection_reading_an_undeclared_topic_is_refused() -> None:
    entry = EntryPoint("order_summary", "projector.order_summary:PROJECTION", PROJECTIONS)
    query = EntryPoint("query", "query.declaration:SERVICE", SERVICES)
    declared = Topology.from_entries([service("shop", "SHOP"), query, entry])
    with pytest.raises(TopologyError, match=r"reads \[.orders.events.*\], which no declared"):
        _ = declared.projections


def test_a_source_entry_point_loads_a_source() -> None:
    entry = EntryPoint("legacy", "legacy.declaration:SOURCE", SOURCES)
    assert Topology.from_entries([entry]).cdc_origins == {"legacy": ("postgresql", "legacy_erp")}


def test_describe_lists_services_topics_with_their_producers_sources_and_projections() -> None:
    described = describe()
    assert {s["name"] for s in described["services"]} == {
        "orders",
        "customers",
        "shipping",
        "query",
    }
    assert {"name": "orders.events", "producer": "orders", "principal": "relay-orders"} in (
        described["topics"]
    )
    assert described["sources"][0]["prefix"] == "legacy"
    summary = next(p for p in described["projections"] if p["name"] == "order_summary")
    assert summary["topics"] == ["orders.events", "shipping.events"]
    assert summary["database"] == "readmodels"


def test_a_projection_writing_an_undeclared_database_is_refused() -> None:
    entry = EntryPoint("order_summary", "projector.order_summary:PROJECTION", PROJECTIONS)
    orders = EntryPoint("orders", "orders.declaration:SERVICE", SERVICES)
    declared = Topology.from_entries([orders, entry])  # no query API: no readmodels database
    with pytest.raises(TopologyError, match="writes 'readmodels', which no service declares"):
        _ = declared.projections


def test_the_legacy_package_adds_its_commands_to_the_cli() -> None:
    from typer.testing import CliRunner

    from annals.cli.main import app

    done = CliRunner().invoke(app, ["legacy", "--help"])
    assert done.exit_code == 0 and "simulate" in done.stdout
    top = CliRunner().invoke(app, ["--help"]).stdout
    assert "demo" in top and "legacy" in top  # both of the legacy package's plugins
    assert len(command_plugins()) >= 2
