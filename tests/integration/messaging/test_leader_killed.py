"""kill -9 of the active publisher: the standby leads within seconds, status and metrics say who."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.messaging.support import (
    PublisherProcess,
    ScratchDatabase,
    caught_up,
    delivery,
    read_topic,
    wait_for,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(port: int, name: str) -> float | None:
    """A sample of this process's /metrics (first match), None when absent."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def publishers_status(process: PublisherProcess) -> str:
    """`annals publishers status` as the publishers see the world (only orders)."""
    env = {**process.env, "ANNALS_KAFKA_SERVICES": "orders", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "annals.cli.main", "publishers", "status"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


async def test_the_standby_takes_over_after_kill_9_and_status_names_the_holder(
    stack: StackSettings,
    msg_db: ScratchDatabase,
    store: PostgresEventStore,
    topic: str,
    unique: str,
    tmp_path: Path,
):
    host = socket.gethostname()
    streams = [f"order-{unique}-{i}" for i in range(5)]
    appended = dict.fromkeys(streams, 0)

    async def append_round() -> None:
        await asyncio.gather(*(store.append(s, [NewEvent("OrderPlaced", {})]) for s in streams))
        for s in streams:
            appended[s] += 1

    processes = []
    ports = []
    for tag in ("first", "second"):
        process = PublisherProcess(msg_db, topic, tmp_path, tag)
        ports.append(free_port())
        process.env["ANNALS_ORDERS_PUBLISHER_METRICS_PORT"] = str(ports[-1])
        processes.append(process)
    first, second = processes
    try:
        first.start()
        await wait_for(lambda: _leads(ports[0]), 30, what="first publisher active")
        second.start()
        await wait_for(lambda: _logged(second, "standby"), 30, what="second publisher standby")
        assert metric(ports[1], "annals_publisher_leader") == 0
        for _ in range(5):
            await append_round()
        await caught_up(msg_db, topic)
        assert (metric(ports[0], "annals_publisher_seconds_since_publish") or 99) < 30
        status = await asyncio.to_thread(publishers_status, first)
        assert f"lock holder {host}:{first.pid}" in status, status

        first.kill9()
        killed = time.monotonic()
        await wait_for(lambda: _leads(ports[1]), 15, interval=0.05, what="standby taking over")
        takeover = time.monotonic() - killed
        for _ in range(5):
            await append_round()
        await caught_up(msg_db, topic)
        status = await asyncio.to_thread(publishers_status, second)
        assert f"lock holder {host}:{second.pid}" in status, status
        assert "active" in status
        records = await read_topic(stack.kafka_bootstrap, topic, sum(appended.values()), 60)
    finally:
        for process in processes:
            process.stop()

    assert takeover < 5, f"takeover took {takeover:.1f}s"
    assert delivery(records).problems(appended) == [], second.output()[-3000:]
    print(f"takeover after {takeover:.2f}s")


async def _leads(port: int) -> bool:
    return await asyncio.to_thread(metric, port, "annals_publisher_leader") == 1


async def _logged(process: PublisherProcess, text: str) -> bool:
    return text in process.output()
