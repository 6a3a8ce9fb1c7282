"""Prometheus metrics of projector workers: events by outcome, lag, parked streams, DLQ."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from annals.projections.engine import BatchResult


class ProjectionMetrics:
    """The metrics of one projection in this process (labelled by projection name)."""

    _families: dict[int, tuple[Counter, Counter, Histogram, Gauge, Gauge, Gauge, Gauge]] = {}

    def __init__(self, projection: str, registry: CollectorRegistry | None = None) -> None:
        registry = registry or REGISTRY
        families = self._families.get(id(registry))
        if families is None:
            families = (
                Counter(
                    "annals_projection_events",
                    "Events seen by projections, by outcome",
                    ["projection", "outcome"],
                    registry=registry,
                ),
                Counter(
                    "annals_projection_dead_letters",
                    "Records sent to the projection's DLQ, by reason",
                    ["projection", "reason"],
                    registry=registry,
                ),
                Histogram(
                    "annals_projection_batch_seconds",
                    "Time to apply one batch (one transaction)",
                    ["projection"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                    registry=registry,
                ),
                Gauge(
                    "annals_projection_lag_records",
                    "Records not yet applied, per topic partition",
                    ["projection", "topic", "partition"],
                    registry=registry,
                ),
                Gauge(
                    "annals_projection_lag_seconds",
                    "Age of the newest applied event while records wait (0 when caught up)",
                    ["projection"],
                    registry=registry,
                ),
                Gauge(
                    "annals_projection_parked_streams",
                    "Streams parked on a version gap",
                    ["projection"],
                    registry=registry,
                ),
                Gauge(
                    "annals_projection_version",
                    "Live version this worker writes",
                    ["projection"],
                    registry=registry,
                ),
            )
            self._families[id(registry)] = families
        events, dead, batch, lag, lag_s, parked, version = families
        self.name = projection
        self._events = {
            o: events.labels(projection, o)
            for o in ("applied", "skipped", "parked", "dead", "ignored", "unparked")
        }
        self._dead = dead
        self.batch_seconds = batch.labels(projection)
        self._lag = lag
        self.lag_seconds = lag_s.labels(projection)
        self.parked_streams = parked.labels(projection)
        self.version = version.labels(projection)

    def batch(self, result: BatchResult, seconds: float) -> None:
        """Count one applied batch."""
        self._events["applied"].inc(result.applied)
        self._events["skipped"].inc(result.skipped)
        self._events["parked"].inc(result.parked)
        self._events["unparked"].inc(result.unparked)
        self._events["ignored"].inc(result.ignored)
        self._events["dead"].inc(len(result.dead))
        for letter in result.dead:
            self._dead.labels(self.name, letter.reason).inc()
        self.batch_seconds.observe(seconds)

    def lag(self, topic: str, partition: int, records: int) -> None:
        """Set the record lag of one partition."""
        self._lag.labels(self.name, topic, str(partition)).set(records)
