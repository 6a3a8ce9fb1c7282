"""How far open transactions hold readers of the whole store back (Prometheus gauges)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Gauge

from annals.eventstore.pool import Queries

HELD_EVENTS = Gauge(
    "annals_eventstore_holdback_events",
    "Committed events that read_all cannot return yet because an older transaction is open",
    ["store"],
)
HELD_SECONDS = Gauge(
    "annals_eventstore_holdback_seconds",
    "Age of the oldest committed event that read_all cannot return yet",
    ["store"],
)
OLDEST_XACT_SECONDS = Gauge(
    "annals_eventstore_oldest_transaction_seconds",
    "Age of the oldest open transaction with an xid that this role can see",
    ["store"],
)

HOLDBACK_SQL = """
WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT
  (SELECT count(*) FROM eventstore.events, snap WHERE tx_id >= snap.xmin),
  (SELECT coalesce(extract(epoch FROM now() - min(recorded_at)), 0)
     FROM eventstore.events, snap WHERE tx_id >= snap.xmin),
  (SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)
     FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid())
"""


@dataclass(frozen=True, slots=True)
class HoldBack:
    """Events committed but not yet readable, their age, and the oldest open transaction."""

    held_events: int
    held_seconds: float
    oldest_transaction_seconds: float


async def measure_holdback(pool: Queries, store: str = "default") -> HoldBack:
    """Measure the hold-back now and set the gauges labelled `store`."""
    row = await pool.fetchrow(HOLDBACK_SQL)
    assert row is not None
    result = HoldBack(int(row[0]), float(row[1]), float(row[2]))
    HELD_EVENTS.labels(store).set(result.held_events)
    HELD_SECONDS.labels(store).set(result.held_seconds)
    OLDEST_XACT_SECONDS.labels(store).set(result.oldest_transaction_seconds)
    return result
