"""`annals catalog`: each read model's inputs and personal columns, each topic's origin."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from annals.cli.main import app
from annals.schemas.lineage import read_models, topics
from annals.topology import topology


def test_read_models_name_their_topics_event_types_and_personal_columns() -> None:
    models = {m.name: m for m in read_models()}
    assert set(models) == set(topology().projections)
    customer_orders = models["customer_orders"]
    assert set(customer_orders.topics) == {"customers.events", "orders.events"}
    assert "customers.CustomerRegistered" in customer_orders.event_types
    assert "email" in customer_orders.personal_columns["customer_orders"]


def test_topics_name_their_producer_versions_retention_and_consumers() -> None:
    feeds = {t.name: t for t in topics()}
    orders = feeds["orders.events"]
    assert orders.producer == "service orders" and orders.retention == "unlimited"
    assert orders.versions["orders.OrderPlaced"] == (1,)
    assert {"order_summary", "daily_sales"} <= set(orders.consumers)
    assert "shipping.events" in feeds
    assert feeds["legacy.<schema>.<table>"].consumers == ("products",)


def test_the_cli_prints_it_as_json() -> None:
    done = CliRunner().invoke(app, ["catalog", "--json"])
    assert done.exit_code == 0, done.output
    assert {"read_models", "topics"} == set(json.loads(done.output))
