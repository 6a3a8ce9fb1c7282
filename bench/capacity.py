"""bench/capacity: the whole platform's sustainable command rate, beside the HTTP-only rate.

On a private sandbox (scratch databases, own topics) the orders API, its relay, one projector
process with the order projections and the query API (one worker per core each) run as real
processes, as `make up` runs them. First the orders API alone takes closed-loop PlaceOrder
commands: the HTTP-only rate. Then, with the rest started and warmed by unmeasured steps (0.05 x
that rate, then 0.2 x for a minute and until the broker's CPU share stops falling), PlaceOrder is
sent open-loop in rate steps (from 0.2 x the HTTP-only rate: halved until a step holds, then raised
by 1.25 until one fails); each command is followed by a query with its consistency token, and
freshness is the time from the command's answer to the query's. A step holds when freshness p99 <=
250 ms, the rate was really sent, every command was seen in the query API within GRACE seconds
after the step and no projection's lag is left growing (a failed step runs once more before it
counts: other work on a shared machine comes in bursts). The highest step that holds is the
platform's capacity (goal: >= 0.6 x the HTTP-only rate), reported with each process's CPU share
(cores) at that rate. BENCH_PROFILE=<folder> adds a py-spy profile of every process at every step.

Run `.venv/bin/python -m bench.capacity`; needs the stack (PostgreSQL, Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from orders.settings import OrdersSettings

from annals.messaging.topics import TopicSpec, ensure_topics
from annals.projections.sandbox import Rig, create, destroy
from annals.projections.status import status
from annals.stack.settings import StackSettings
from annals.topology import topology
from annals.web.auth import mint_token
from bench.cpu import named, pid_of, shares, tree_seconds
from bench.harness import Result, percentile, write_results
from bench.projections import Processes, RawHttp

STEP_SECONDS = float(os.environ.get("BENCH_CAPACITY_STEP_SECONDS", "8"))
HTTP_SECONDS = float(os.environ.get("BENCH_CAPACITY_HTTP_SECONDS", "8"))
HTTP_CLIENTS = 16
FIRST_STEP = 0.2  # of the HTTP-only rate
# Warm-up: unmeasured steps at FIRST_STEP, after one at 0.05 x the HTTP-only rate.
WARM_UP_SECONDS = float(os.environ.get("BENCH_CAPACITY_WARM_UP_SECONDS", "60"))
WARM_UP_MAX_STEPS = 12
WARM_UP_FALL = 0.15  # the broker is warm when its CPU share stops falling by more than this
GROWTH = 1.25
MAX_STEPS = int(os.environ.get("BENCH_CAPACITY_MAX_STEPS", "10"))
FRESH_P99_MS = 250.0
GRACE = 2.0  # seconds after a step for its last commands to show in the query API
WORKERS = os.cpu_count() or 1  # of the orders and query APIs, as `make up` runs them
PROJECTIONS = ("order_summary", "customer_orders", "daily_sales")
# BENCH_PROFILE=<folder>: py-spy records every platform process during each step (on-CPU
# samples, collapsed stacks in <folder>/<rate>/<process>.txt); py-spy must be installed.
# BENCH_PROFILE_ONLY=query,orders: only those processes (their first word in the CPU table).
PROFILE = os.environ.get("BENCH_PROFILE", "")


@dataclass
class Step:
    """What one rate step measured."""

    target: float
    sent: float = 0.0
    fresh_ms: list[float] = field(default_factory=list)
    failed: int = 0
    late: int = 0
    lag: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def p99(self) -> float:
        """Freshness p99 (ms); infinite without samples."""
        return percentile(self.fresh_ms, 99) if self.fresh_ms else float("inf")

    @property
    def holds(self) -> bool:
        """The rate is sustained: fresh, really sent, nothing left queued."""
        bound = max(50, self.target)  # a second's worth of records may still be in flight
        return (
            self.p99 <= FRESH_P99_MS and self.sent >= 0.95 * self.target
            and not self.failed and not self.late and self.lag <= bound
        )  # fmt: skip


class Load:
    """The orders and query clients and the commands they send."""

    def __init__(self, procs: Processes) -> None:
        auth = "Bearer " + mint_token(OrdersSettings(), ["orders:write", "read"])
        self.orders = RawHttp("127.0.0.1", procs.orders_port, auth, 400)
        self.query = RawHttp("127.0.0.1", procs.query_port, auth, 400)

    async def place(self) -> tuple[str, str]:
        """PlaceOrder; (order id, version) of the accepted command."""
        order_id = uuid.uuid4().hex[:16]
        body = json.dumps({"order_id": order_id, "customer_id": "c1", "currency": "EUR"})
        status_code, headers, text = await self.orders.request("POST", "/orders", body.encode())
        if status_code != 201:
            raise RuntimeError(f"PlaceOrder answered {status_code}: {text[:200]!r}")
        return order_id, headers["etag"].strip('"')

    async def fresh(self, step: Step) -> None:
        """One command, then its query with the consistency token; freshness into `step`."""
        try:
            order_id, version = await self.place()
            done = time.perf_counter()
            token = f"X-Consistency-Token: order-{order_id}@{version}\r\n"
            path = f"/orders/{order_id}?wait=10"
            code, headers, _ = await self.query.request("GET", path, b"", token)
            if code != 200 or headers.get("x-consistency") != "satisfied":
                raise RuntimeError(f"query answered {code}")
            step.fresh_ms.append((time.perf_counter() - done) * 1000)
        except (RuntimeError, OSError, asyncio.IncompleteReadError):
            step.failed += 1

    async def close(self) -> None:
        """Close the connections."""
        await self.orders.close()
        await self.query.close()


async def http_only_rate(load: Load, seconds: float) -> float:
    """Commands/s of HTTP_CLIENTS closed-loop clients against the orders API alone."""
    deadline = time.perf_counter() + seconds
    counts = [0] * HTTP_CLIENTS

    async def client(i: int) -> None:
        while time.perf_counter() < deadline:
            await load.place()
            counts[i] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(HTTP_CLIENTS)))
    return sum(counts) / (time.perf_counter() - started)


async def run_step(load: Load, rig: Rig, roots: dict[str, int], rate: float) -> Step:
    """Send `rate` commands/s open-loop for STEP_SECONDS, then wait GRACE for the stragglers."""
    step = Step(rate)
    tasks: list[asyncio.Task[None]] = []
    spies = profile(roots, rate)
    # py-spy runs as this process's child: its CPU is the profile's, not the load generator's.
    skip = [spy.pid for spy in spies]
    cpu_before, started = tree_seconds(roots, skip), time.perf_counter()
    for n in range(int(rate * STEP_SECONDS)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(load.fresh(step)))
    wall = time.perf_counter() - started
    step.sent = len(tasks) / wall
    step.cpu = shares(cpu_before, tree_seconds(roots, skip), wall)
    for spy in spies:
        spy.wait(30)
    _, pending = await asyncio.wait(tasks, timeout=GRACE)
    step.late = len(pending)
    step.lag = await projection_lag(rig)
    if pending:
        await asyncio.wait(pending, timeout=30)
    return step


def profile(roots: dict[str, int], rate: float) -> list[subprocess.Popen[bytes]]:
    """py-spy on each of our processes for one step, when BENCH_PROFILE names a folder."""
    if not PROFILE:
        return []
    folder = Path(PROFILE) / f"{rate:.0f}"
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    only = set(filter(None, os.environ.get("BENCH_PROFILE_ONLY", "").split(",")))
    wanted = {
        k: v for k, v in roots.items()
        if k not in ("postgres", "kafka") and (not only or k.split()[0] in only)
    }  # fmt: skip
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--subprocesses",
                # py-spy's default pauses the process for every sample: profiling every
                # process that way once cut the measured capacity from 247 to 15 commands/s.
                "--nonblocking",
                "-r",
                "50",
                "-f",
                "raw",
                "-d",
                str(int(STEP_SECONDS)),
                "-o",
                str(folder / f"{name.split()[0]}.txt"),
                "-p",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in wanted.items()
    ]


async def projection_lag(rig: Rig) -> int:
    """Records the order projections are behind the topic's end, summed."""
    settings, lag = rig.settings(), 0
    for name in PROJECTIONS:
        found = await status(topology().projections[name], settings)
        lag += found.lag_records or 0
    return lag


async def settle(load: Load, rig: Rig, seconds: float = 180) -> None:
    """Wait until a fresh command shows in the query API and no projection lags (drained)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probe = Step(1)
        await load.fresh(probe)
        if probe.fresh_ms and await projection_lag(rig) == 0:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the platform did not catch up")


async def ready(port: int, seconds: float = 90) -> None:
    """Wait for /readyz on a local port."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"port {port} did not become ready")


def roots_of(procs: Processes, stack: StackSettings) -> dict[str, int]:
    """The process trees whose CPU is measured: ours and the stack's servers."""
    ours = [(name, proc.pid) for name, proc in zip(procs.names, procs.procs, strict=True)]
    servers = [
        ("postgres", pid_of(stack.dir / "pg" / "postmaster.pid")),
        ("kafka", pid_of(stack.pid_file("kafka"))),
        ("load generator (this process)", os.getpid()),
    ]
    return named([*ours, *servers])


async def measure(stack: StackSettings, folder: Path) -> list[Result]:
    """HTTP-only rate, then the rate steps with the whole platform running."""
    rig = await create(stack, uuid.uuid4().hex[:12])
    procs = Processes(rig, folder)
    procs.projections = PROJECTIONS
    load = Load(procs)
    try:
        await ensure_topics(stack.kafka_bootstrap, [TopicSpec(rig.topic("customers.events"), 6)])
        procs.start(("orders",), WORKERS)
        await ready(procs.orders_port)
        await http_only_rate(load, 1.0)  # warm up
        http_rate = await http_only_rate(load, HTTP_SECONDS)
        print(f"   HTTP-only: {http_rate:,.0f} commands/s", flush=True)
        procs.start(("relay", "projector", "query"), query_workers=WORKERS)
        await ready(procs.query_port)
        await settle(load, rig)
        roots = roots_of(procs, stack)
        await warm_up(load, rig, roots, http_rate)
        steps = await climb(load, rig, roots, http_rate)
    finally:
        await load.close()
        procs.stop()
        await destroy(rig)
    return report(http_rate, steps)


async def warm_up(load: Load, rig: Rig, roots: dict[str, int], http_rate: float) -> None:
    """Unmeasured steps at the first step's rate for WARM_UP_SECONDS at least, then until two
    steps in a row leave the broker's lowest CPU share within WARM_UP_FALL (at most
    WARM_UP_MAX_STEPS).

    On a fresh stack (`make bench` starts with this benchmark) the broker's JVM keeps getting
    cheaper for minutes: after one 8 s warm-up step it used 0.3 cores at 116 commands/s where
    a warm one uses 0.15-0.2 at twice the rate (its share hardly grows with the rate), and the
    capacity found was 0.10 of the HTTP-only rate instead of 0.25.
    """
    await run_step(load, rig, roots, max(5.0, round(http_rate * 0.05)))
    await settle(load, rig)
    rate, lowest, flat = max(5.0, round(http_rate * FIRST_STEP)), float("inf"), 0
    began = time.monotonic()
    for _ in range(WARM_UP_MAX_STEPS):
        step = await run_step(load, rig, roots, rate)
        await settle(load, rig)
        broker = step.cpu.get("kafka", 0.0)
        print(f"   warm-up {rate:,.0f}/s: broker {broker:.2f} cores", flush=True)
        flat = flat + 1 if broker > lowest * (1 - WARM_UP_FALL) else 0
        lowest = min(lowest, broker)
        if flat >= 2 and time.monotonic() - began >= WARM_UP_SECONDS:
            return


async def climb(load: Load, rig: Rig, roots: dict[str, int], http_rate: float) -> list[Step]:
    """From FIRST_STEP x the HTTP-only rate, halve the rate until a step holds, then raise it
    by GROWTH until one fails; every step measured, in order."""
    first = float(os.environ.get("BENCH_CAPACITY_FIRST", 0)) or round(http_rate * FIRST_STEP)
    steps: list[Step] = []
    rate, going_up = max(5.0, first), True
    for _ in range(MAX_STEPS):
        step = await measured_step(load, rig, roots, rate)
        steps.append(step)
        if step.holds:
            going_up = True
            rate = round(rate * GROWTH)
        elif len(steps) == 1 or not going_up:
            going_up = False
            if rate <= 5:
                break
            rate = max(5.0, round(rate / 2))
        else:
            break
        await settle(load, rig)
    return sorted(steps, key=lambda s: s.target)


async def measured_step(load: Load, rig: Rig, roots: dict[str, int], rate: float) -> Step:
    """One step; a failed one runs once more (a neighbour's burst on a shared machine)."""
    step = await run_step(load, rig, roots, rate)
    if not step.holds:
        await settle(load, rig)
        step = await run_step(load, rig, roots, rate)
    print(
        f"   {rate:,.0f}/s: sent {step.sent:,.0f}/s, p50 {percentile(step.fresh_ms, 50):,.0f} "
        f"p99 {step.p99:,.0f} ms, late {step.late}, failed {step.failed}, lag {step.lag}, "
        f"holds {step.holds}, cpu {' '.join(f'{k}={v:.2f}' for k, v in step.cpu.items())}",
        flush=True,
    )
    return step


def report(http_rate: float, steps: list[Step]) -> list[Result]:
    """The figures: HTTP-only rate, capacity, every step, CPU shares at the capacity rate."""
    held = [s for s in steps if s.holds]
    best = max(held, key=lambda s: s.target) if held else None
    out = [
        Result(f"reference: HTTP-only PlaceOrder rate ({WORKERS} workers)", http_rate,
               "cmd/s"),
        Result("platform capacity (freshness p99 <= 250 ms, bounded queues)",
               best.target if best else 0.0, "cmd/s", http_rate, 0.6),
    ]  # fmt: skip
    for s in steps:
        label = f"freshness p99 @ {s.target:,.0f} cmd/s (sent {s.sent:,.0f}, late {s.late})"
        out.append(Result(label, s.p99, "ms"))
    if best is not None:
        for name, cores in sorted(best.cpu.items(), key=lambda kv: -kv[1]):
            out.append(Result(f"CPU at capacity: {name}", cores, "cores"))
    return out


def main() -> None:
    """Run against the running stack and write bench/results/capacity.json."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            results = asyncio.run(measure(StackSettings(), Path(folder)))
        except BaseException:
            for log in Path(folder).glob("*.log"):
                print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
    write_results("capacity", results)


if __name__ == "__main__":
    main()
