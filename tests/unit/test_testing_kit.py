"""The testing kit itself: a then that does not hold fails, with a message saying what was seen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.order import DECIDER
from projector import order_summary

from annals.commands.errors import NotFound, RuleBroken
from annals.projections.events import Event
from annals.testing import DeciderSpec, ProjectionSpec

SPEC = DeciderSpec(DECIDER, "o1")
PLACED = e.OrderPlaced(order_id="o1", customer_id="c1", currency="EUR")


def test_then_fails_when_other_events_are_produced() -> None:
    with pytest.raises(AssertionError, match="PlaceOrder produced"):
        SPEC.given().when(c.PlaceOrder(customer_id="c2", currency="EUR")).then(PLACED)


def test_then_fails_names_a_missing_error_and_a_wrong_attribute() -> None:
    with pytest.raises(AssertionError, match="instead of failing with NotFound"):
        SPEC.given().when(c.PlaceOrder(customer_id="c1", currency="EUR")).then_fails(NotFound)
    with pytest.raises(AssertionError, match=r"RuleBroken had \{'rule': 'order-empty'\}"):
        SPEC.given(PLACED).when(c.Confirm()).then_fails(RuleBroken, rule="order-not-open")


def test_then_rows_fails_on_a_wrong_column_or_an_absent_row() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    placed = Event("orders.OrderPlaced", PLACED.model_dump(mode="json"), at, "order-o1", 1)
    then = ProjectionSpec(order_summary.PROJECTION).given(placed)
    then.then_rows("order_summary", {("o1",): {"status": "open"}})
    with pytest.raises(AssertionError, match=r"has \{'status': 'open'\}"):
        then.then_rows("order_summary", {("o1",): {"status": "confirmed"}})
    with pytest.raises(AssertionError, match="is absent"):
        then.then_rows("order_summary", {("o9",): {"status": "open"}})
