"""Publisher status files and the lock holder as `annals publishers status` shows them."""

from __future__ import annotations

import time

from annals.cli.publish_cmds import _state
from annals.messaging.health import (
    Leadership,
    PublisherHealth,
    read_statuses,
    status_path,
    write_status,
)
from annals.messaging.leadership import LockHolder, application_name


def test_status_files_are_per_process_and_read_back_per_publisher(tmp_path):
    leader = PublisherHealth("orders", "orders.events", pid=11)
    leader.enter("active")
    leader.last_publish_at = time.time() - 3
    standby = PublisherHealth("orders", "orders.events", pid=12)
    standby.enter("standby")
    other = PublisherHealth("orders", "orders.events.x", pid=13)
    for health in (leader, standby, other):
        write_status(status_path(health.publisher, tmp_path, health.pid), health)

    found = read_statuses("orders.events", tmp_path)
    assert sorted(h.pid for h in found) == [11, 12]
    lead = Leadership("host:11", "2026-01-01T00:00:00+00:00", found)
    assert lead.active is not None and lead.active.pid == 11
    state, note = _state(lead)
    assert state == "active" and "last publish 3s ago" in note


def test_a_status_not_rewritten_lately_is_reported_as_such(tmp_path):
    health = PublisherHealth("orders", "orders.events", pid=11)
    health.failed(ConnectionRefusedError("db away"))
    write_status(tmp_path / "s.json", health)
    health.updated_at -= 60
    state, note = _state(Leadership(None, None, [health]))
    assert "no report" in state and "60s old" in note
    assert health.state == "reconnecting" and health.restarts == 1
    assert health.last_error == "ConnectionRefusedError: db away"


def test_the_holder_is_named_by_its_application_name():
    me = "host-a:4242"
    holder = LockHolder(777, application_name(me), "127.0.0.1", None)
    assert holder.instance == me
    assert LockHolder(778, "psql", "10.0.0.1", None).instance == "psql"
    assert len(application_name("h" * 100)) == 63
