"""bench/http_commands: the order lifecycle over HTTP (wrk, 32 clients) vs the library-level rate.

Run `.venv/bin/python -m bench.http_commands`; needs the stack's PostgreSQL and /usr/bin/wrk.
Creates a scratch `orders` database, serves the orders app with uvicorn (workers = cores) in a
subprocess, and alternates the library-level lifecycle (bench/lifecycle: the CommandExecutor,
as many concurrent lifecycles as wrk has clients, the server's aggregate-cache setting) with wrk
driving place order, 3 x add item, confirm over HTTP (a Lua script), comparing the medians of
the rates and the worst p99 of each side (goals: 0.6 x the rate, p99 <= 2 x the library's). Writes
bench/results/http_commands.json; the database, server and temp files are removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orders.settings import OrdersSettings

from annals.eventstore.postgres import PostgresEventStore
from annals.stack.settings import StackSettings
from annals.web import launcher
from annals.web.auth import mint_token
from bench.baselines import settle
from bench.eventstore import APP, OWNER, STORE_TABLES, drop_database, scratch_database
from bench.harness import Result, percentile, write_results
from bench.lifecycle import LifecycleRun, lifecycle

CLIENTS = 32
WARMUP = float(os.environ.get("BENCH_HTTP_WARMUP", "3"))
SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "18"))  # split over the rounds
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
LUA = Path(__file__).with_suffix(".lua")
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scratch_settings(stack: StackSettings, database: str) -> tuple[OrdersSettings, dict[str, str]]:
    """Settings of the orders app on the scratch database, and the environment that gives
    them to its uvicorn workers."""
    env = {
        "ANNALS_ORDERS_DATABASE": database,
        "ANNALS_ORDERS_DSN": stack.dsn(database, APP),
        "ANNALS_ORDERS_OWNER_DSN": stack.dsn(database, OWNER),
        "ANNALS_ORDERS_PORT": str(free_port()),
        "ANNALS_ORDERS_MIGRATE": "false",
        "ANNALS_ORDERS_LOG_LEVEL": "warning",
    }
    fields = {key.removeprefix("ANNALS_ORDERS_").lower(): value for key, value in env.items()}
    return OrdersSettings.model_validate(fields), env


@contextmanager
def orders_server(settings: OrdersSettings, env: dict[str, str]) -> Iterator[str]:
    """The orders app under uvicorn (launched as `annals services` does); yield its URL."""
    metrics = tempfile.mkdtemp(prefix="annals-bench-metrics-")
    args = launcher.uvicorn_args(launcher.specs()["orders"], settings)
    child_env = {**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": metrics}
    proc = subprocess.Popen(args, env=child_env, start_new_session=True)
    url = f"http://{settings.host}:{settings.port}"
    try:
        deadline = time.monotonic() + 60
        while not launcher.ready(settings):
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the orders server did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(metrics, ignore_errors=True)


def run_wrk(url: str, token: str, seconds: float, tag: str) -> dict[str, float]:
    """wrk with one connection per thread (the Lua state keeps each client's lifecycle)."""
    args = [
        WRK, f"-t{CLIENTS}", f"-c{CLIENTS}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(LUA), url, "--", token, tag,
    ]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


async def library_run(stack: StackSettings, database: str, cache_size: int) -> LifecycleRun:
    """The library-level lifecycle with wrk's concurrency, on the same database."""
    store = await PostgresEventStore.connect(
        stack.dsn(database, APP), min_size=CLIENTS + 1, max_size=CLIENTS + 2
    )
    try:
        return await lifecycle(store, CLIENTS, SECONDS / ROUNDS, cache_size)
    finally:
        await store.close()


def measure(stack: StackSettings) -> list[Result]:
    """The HTTP lifecycle rate and latencies, with the library-level rate of the same run.

    The two rates alternate over ROUNDS rounds against one warm server, and the medians are
    compared, so a slow moment of this shared machine does not land on one side only.
    """
    database = asyncio.run(scratch_database(stack))
    try:
        settings, env = scratch_settings(stack, database)
        launcher.migrate(launcher.specs()["orders"], settings)
        token = mint_token(settings, ["orders:write"], subject="bench", ttl_seconds=3600)
        tag = uuid.uuid4().hex[:8]
        library: list[LifecycleRun] = []
        runs: list[dict[str, float]] = []
        with orders_server(settings, env) as url:
            run_wrk(url, token, WARMUP, f"warm{tag}")
            for round_no in range(ROUNDS):
                asyncio.run(settle(stack.dsn(database), *STORE_TABLES))
                run = library_run(stack, database, settings.state_cache_size)
                library.append(asyncio.run(run))
                asyncio.run(settle(stack.dsn(database), *STORE_TABLES))
                runs.append(run_wrk(url, token, SECONDS / ROUNDS, f"r{round_no}{tag}"))
    finally:
        asyncio.run(drop_database(stack, database))
    rates = [(r["requests"] - r["failures"]) / (r["duration_us"] / 1e6) for r in runs]
    stats = runs[sorted(range(ROUNDS), key=rates.__getitem__)[ROUNDS // 2]]
    baseline = statistics.median(lib.rate for lib in library)
    rate = statistics.median(rates)
    ratios = [h / lib.rate for h, lib in zip(rates, library, strict=True)]
    worst_p99 = max(r["p99_us"] for r in runs) / 1000
    library_p99 = max(percentile(lib.latencies_ms, 99) for lib in library)
    cache = f"cache {settings.state_cache_size or 'off'}"
    name = f"order lifecycle over HTTP, {CLIENTS} clients, {settings.workers} workers"
    return [
        Result(f"library lifecycle, {CLIENTS} concurrent, {cache}", baseline, "cmd/s"),
        Result(name, rate, "cmd/s", baseline, 0.6),
        Result(f"lowest ratio of {ROUNDS} alternating rounds", min(ratios), "ratio"),
        Result(f"highest ratio of {ROUNDS} alternating rounds", max(ratios), "ratio"),
        Result("library latency p99 (worst round)", library_p99, "ms"),
        Result("HTTP latency p50 (median round)", stats["p50_us"] / 1000, "ms"),
        Result("HTTP latency p90 (median round)", stats["p90_us"] / 1000, "ms"),
        Result("HTTP latency p99 (worst round)", worst_p99, "ms", library_p99, "ratio <= 2"),
        Result("HTTP non-2xx responses", sum(r["failures"] for r in runs), "responses", None, "0"),
        Result("HTTP socket errors", sum(r["socket_errors"] for r in runs), "errors", None, "0"),
    ]


def main() -> None:
    """Run against the running stack and write bench/results/http_commands.json."""
    write_results("http_commands", measure(StackSettings()))


if __name__ == "__main__":
    main()
