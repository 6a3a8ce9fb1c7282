"""Prometheus metrics of projector workers: events by outcome, lag, state, errors, DLQ."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from annals.projections.engine import BatchResult
from annals.projections.health import Health

STATES = ("starting", "live", "stalled", "stopped")


def _families(registry: CollectorRegistry) -> dict[str, Any]:
    def counter(name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, ["projection", *labels], registry=registry)

    def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
        return Gauge(name, doc, ["projection", *labels], registry=registry)

    return {
        "events": counter("annals_projection_events", "Events seen, by outcome", ["outcome"]),
        "dead": counter(
            "annals_projection_dead_letters", "Records sent to the DLQ, by reason", ["reason"]
        ),
        "conflicts": counter(
            "annals_projection_conflicting_duplicates",
            "Records with an applied (stream, version) but another event id (an alarm)",
            [],
        ),
        "errors": counter(
            "annals_projection_worker_errors",
            "Failures that restarted the worker, by exception class",
            ["error"],
        ),
        "restarts": counter("annals_projection_worker_restarts", "Worker restarts", []),
        "batch": Histogram(
            "annals_projection_batch_seconds",
            "Time to apply one batch (one transaction)",
            ["projection"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        ),
        "lag": gauge(
            "annals_projection_lag_records",
            "Records not yet applied, per topic partition",
            ["topic", "partition"],
        ),
        "position": gauge(
            "annals_projection_position",
            "Next offset to apply (where a stalled worker is stuck), per topic partition",
            ["topic", "partition"],
        ),
        "lag_s": gauge(
            "annals_projection_lag_seconds",
            "Age of the newest applied event while records wait (0 when caught up)",
            [],
        ),
        "parked": gauge("annals_projection_parked_streams", "Streams parked on a version gap", []),
        "version": gauge("annals_projection_version", "Live version this worker writes", []),
        "state": gauge(
            "annals_projection_state", "1 for the worker's state (live, stalled, ...)", ["state"]
        ),
        "since": gauge(
            "annals_projection_seconds_since_progress",
            "Seconds since the worker last applied a batch or found itself caught up",
            [],
        ),
    }


class ProjectionMetrics:
    """The metrics of one projection in this process (labelled by projection name)."""

    _registries: dict[int, dict[str, Any]] = {}

    def __init__(self, projection: str, registry: CollectorRegistry | None = None) -> None:
        registry = registry or REGISTRY
        families = self._registries.get(id(registry))
        if families is None:
            families = self._registries[id(registry)] = _families(registry)
        self.name = projection
        self._f = families
        self._events = {
            o: families["events"].labels(projection, o)
            for o in ("applied", "skipped", "parked", "dead", "ignored", "unparked")
        }
        self.batch_seconds = families["batch"].labels(projection)
        self.lag_seconds = families["lag_s"].labels(projection)
        self.parked_streams = families["parked"].labels(projection)
        self.version = families["version"].labels(projection)
        self.conflicts = families["conflicts"].labels(projection)
        self.restarts = families["restarts"].labels(projection)

    def watch(self, health: Health) -> None:
        """State and time since progress computed from `health` at each scrape."""
        for state in STATES:
            child = self._f["state"].labels(self.name, state)
            child.set_function(lambda s=state: float(health.state() == s))
        self._f["since"].labels(self.name).set_function(health.seconds_since_progress)

    def batch(self, result: BatchResult, seconds: float) -> None:
        """Count one applied batch."""
        self._events["applied"].inc(result.applied)
        self._events["skipped"].inc(result.skipped)
        self._events["parked"].inc(result.parked)
        self._events["unparked"].inc(result.unparked)
        self._events["ignored"].inc(result.ignored)
        self._events["dead"].inc(len(result.dead))
        self.conflicts.inc(result.conflicts)
        for letter in result.dead:
            self._f["dead"].labels(self.name, letter.reason).inc()
        self.batch_seconds.observe(seconds)

    def failed(self, error: BaseException) -> None:
        """Count a failure that restarts the worker."""
        self._f["errors"].labels(self.name, type(error).__name__).inc()
        self.restarts.inc()

    def lag(self, topic: str, partition: int, records: int, position: int) -> None:
        """Set the record lag and next offset of one partition."""
        self._f["lag"].labels(self.name, topic, str(partition)).set(records)
        self._f["position"].labels(self.name, topic, str(partition)).set(position)
