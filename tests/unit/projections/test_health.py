"""Nothing stops silently: state in metrics, status judged from offsets and heartbeats, siblings."""

from __future__ import annotations

import asyncio
import logging

import pytest
from projector.order_summary import PROJECTION
from prometheus_client import CollectorRegistry

from annals.projections.health import Health
from annals.projections.metrics import ProjectionMetrics
from annals.projections.process import run_all
from annals.projections.settings import ProjectorSettings
from annals.projections.status import ProjectionStatus, _Stored, judge
from annals.projections.worker import Worker

SETTINGS = ProjectorSettings(bootstrap="127.0.0.1:1", stall_after_s=10)


def test_the_state_metric_is_computed_at_each_scrape() -> None:
    registry = CollectorRegistry()
    metrics = ProjectionMetrics("p", registry)
    health = Health(stall_after=10)
    metrics.watch(health)

    def state(s: str) -> float | None:
        return registry.get_sample_value("annals_projection_state", {"projection": "p", "state": s})

    assert state("starting") == 1 and state("live") == 0
    health.caught_up()
    assert state("live") == 1
    health.failed(RuntimeError("x"))
    assert state("stalled") == 1 and state("live") == 0


def worker_row(
    state: str, partitions: list[str], caught_up_s: float | None, error: str = ""
) -> tuple:
    return ("m", state, partitions, error, caught_up_s, None, None)


@pytest.mark.parametrize(
    ("stored", "workers", "ends", "state", "stuck"),
    [
        ({("orders.events", 0): _Stored(5, None, 1.0)},
         [worker_row("live", ["orders.events:0"], 1.0)], {("orders.events", 0): 5}, "live", []),
        # records wait, the offset moved recently: advancing
        ({("orders.events", 0): _Stored(5, None, 1.0)},
         [worker_row("live", ["orders.events:0"], 30.0)], {("orders.events", 0): 9}, "live", []),
        # records wait, nobody owns the partition (its worker was killed): stalled
        ({("orders.events", 0): _Stored(5, None, 1.0)},
         [worker_row("live", ["orders.events:1"], 1.0)], {("orders.events", 0): 9}, "stalled",
         ["orders.events:0@5"]),
        # records wait, nothing moved for longer than stall_after: stalled
        ({("orders.events", 0): _Stored(5, None, 60.0)},
         [worker_row("live", ["orders.events:0"], 60.0)], {("orders.events", 0): 9}, "stalled",
         ["orders.events:0@5"]),
        # idle for an hour, a record just arrived, the owner was caught up a second ago: live
        ({("orders.events", 0): _Stored(5, None, 3600.0)},
         [worker_row("live", ["orders.events:0"], 1.0)], {("orders.events", 0): 6}, "live", []),
        # the owner says it is stalled (restarting after an error): stalled
        ({("orders.events", 0): _Stored(5, None, 1.0)},
         [worker_row("stalled", ["orders.events:0"], 1.0, "boom")], {("orders.events", 0): 5},
         "stalled", []),
        # no worker, nothing waits
        ({("orders.events", 0): _Stored(5, None, 1.0)}, [], {("orders.events", 0): 5}, "stopped",
         []),
    ],
)  # fmt: skip
def test_status_says_live_only_while_records_are_applied(
    stored: dict, workers: list, ends: dict, state: str, stuck: list
) -> None:
    out = ProjectionStatus("order_summary", "readmodels")
    judge(out, PROJECTION, SETTINGS, stored, workers, ends)
    assert (out.state, out.stuck) == (state, stuck)


class Failing(Worker):
    """A worker whose run() fails twice with a bug, then runs until stopped."""

    def __init__(self) -> None:
        super().__init__(PROJECTION, SETTINGS, metrics=ProjectionMetrics("t", CollectorRegistry()))
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= 2:
            raise ZeroDivisionError("a bug")
        self.health.caught_up()
        await self.stopping.wait()

    async def _beat_apart(self) -> None:
        return None


async def test_run_forever_restarts_after_any_error_logging_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Failing()
    task = asyncio.create_task(worker.run_forever())
    with caplog.at_level(logging.ERROR):
        for _ in range(100):
            if worker.runs >= 3:
                break
            await asyncio.sleep(0.05)
        assert worker.runs == 3 and worker.health.state() == "live"
    assert any(
        r.exc_info and "unexpected ZeroDivisionError" in r.getMessage() for r in caplog.records
    )
    worker.stop()
    await asyncio.wait_for(task, 5)
    assert worker.health.state() == "stopped"


class Sibling:
    """A stand-in worker: run_forever ends (or raises) when told."""

    def __init__(self, name: str, fail: bool) -> None:
        self.group = name
        self.fail = fail
        self.stopping = asyncio.Event()
        self.running = asyncio.Event()

    async def run_forever(self) -> None:
        self.running.set()
        if self.fail:
            raise RuntimeError("escaped")
        await self.stopping.wait()

    def stop(self) -> None:
        self.stopping.set()


async def test_one_projection_ending_never_stops_its_siblings() -> None:
    bad, good = Sibling("bad", True), Sibling("good", False)
    task = asyncio.create_task(run_all([bad, good]))  # type: ignore[list-item]
    await asyncio.wait_for(good.running.wait(), 2)
    await asyncio.sleep(0.1)
    assert not task.done() and good.running.is_set()
    good.stop()
    await asyncio.wait_for(task, 2)
