"""Time travel folds a stream's events up to a version, later fields winning, nested merged."""

from __future__ import annotations

from annals.console.timetravel import as_of

EVENTS = [
    {
        "version": 1,
        "event_type": "OrderPlaced",
        "data": {"status": "placed", "lines": 2, "address": {"city": "Lyon"}},
    },
    {"version": 2, "event_type": "OrderConfirmed", "data": {"status": "confirmed"}},
    {"version": 3, "event_type": "AddressChanged", "data": {"address": {"zip": "69001"}}},
]


def test_state_as_of_each_version() -> None:
    assert as_of(EVENTS, 1)["state"]["status"] == "placed"
    two = as_of(EVENTS, 2)
    assert two["state"] == {"status": "confirmed", "lines": 2, "address": {"city": "Lyon"}}
    assert two["touched"]["status"] == "v2 OrderConfirmed" and two["last_event"] == "OrderConfirmed"
    assert as_of(EVENTS, 3)["state"]["address"] == {"city": "Lyon", "zip": "69001"}
    assert as_of(EVENTS, 0) == {"version": 0, "last_event": "", "state": {}, "touched": {}}
