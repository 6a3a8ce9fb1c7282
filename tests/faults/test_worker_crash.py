"""A service worker killed with `kill -9` comes back by itself, and status counts the restart.

Real processes: `annals services up orders` under a private stack directory (its own
supervisord) on a free port, against the test stack's PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annals.stack.secrets import secrets_dir
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Supervisor

pytestmark = pytest.mark.stack
COMES_BACK_WITHIN = 30.0  # typically 6-8 s: a fresh uvicorn worker plus startsecs (5 s)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Platform:
    """`annals ...` in subprocesses with a private stack directory and orders port."""

    def __init__(self, directory: Path, stack: StackSettings) -> None:
        self.port = _free_port()
        self.stack = StackSettings(
            **{**stack.model_dump(), "dir": directory, "secrets_dir": secrets_dir(stack)}
        )
        self.env = {
            **os.environ,
            "ANNALS_STACK_DIR": str(directory),
            "ANNALS_STACK_SECRETS_DIR": str(secrets_dir(stack)),  # the same servers' passwords
            "ANNALS_STACK_HOST": stack.host,
            "ANNALS_STACK_PG_PORT": str(stack.pg_port),
            "ANNALS_STACK_KAFKA_PORT": str(stack.kafka_port),
            "ANNALS_STACK_CONNECT_PORT": str(stack.connect_port),
            "ANNALS_ORDERS_PORT": str(self.port),
            "ANNALS_ORDERS_WORKERS": "2",
            "COLUMNS": "200",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "annals.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ready(self) -> bool:
        try:  # a new connection each time: any worker may take it
            url = f"http://127.0.0.1:{self.port}/readyz"
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def platform(stack: StackSettings) -> Iterator[Platform]:
    directory = Path(tempfile.mkdtemp(prefix="annals-sup-", dir="/tmp"))  # short socket path
    running = Platform(directory, stack)
    try:
        yield running
    finally:
        running("services", "down", "orders")
        Supervisor(running.stack).shutdown()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_killed_service_worker_comes_back_and_status_counts_the_restart(platform: Platform):
    up = platform("services", "up", "orders")
    assert up.returncode == 0, up.stdout + up.stderr
    supervisor = Supervisor(platform.stack)
    deadline = time.monotonic() + 15
    while any(r.state != "RUNNING" for r in supervisor.status("orders")):
        assert time.monotonic() < deadline, supervisor.status("orders")
        time.sleep(0.2)
    before = {r.name: r.pid for r in supervisor.status("orders")}
    assert len(before) == 2 and all(before.values())
    victim, pid = sorted(before.items())[0]

    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    answers = []
    while True:
        answers.append(platform.ready())
        row = next(r for r in supervisor.status("orders") if r.name == victim)
        if row.state == "RUNNING" and row.pid not in (None, pid) and platform.ready():
            break
        assert time.monotonic() - killed_at < COMES_BACK_WITHIN, f"{victim} did not come back"
        time.sleep(0.1)

    assert row.restarts >= 1
    sibling = next(r for r in supervisor.status("orders") if r.name != victim)
    assert (sibling.pid, sibling.restarts) == (before[sibling.name], 0)
    # supervisord holds the listening socket: the other worker answered throughout.
    assert all(answers), f"{answers.count(False)} of {len(answers)} probes failed"

    shown = platform("platform", "status")
    line = next(x for x in shown.stdout.splitlines() if victim in x)
    assert "RUNNING" in line and str(row.pid) in line
    assert line.split("│")[-2].strip() == str(row.restarts), line

    down = platform("services", "down", "orders")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert not supervisor.running(), "supervisord must stop once nothing is left to run"
    assert not platform.ready()


def test_invalid_projector_settings_are_refused_before_anything_starts(platform: Platform):
    platform.env["ANNALS_PROJECTOR_BATCH_RECORDS"] = "0"  # invalid: refused by the CLI itself
    up = platform("projectors", "up", "--processes", "1")
    assert up.returncode == 1, up.stdout + up.stderr
    assert "invalid projector settings" in up.stdout and "batch_records" in up.stdout, up.stdout
    assert "Traceback" not in up.stdout + up.stderr
    assert not Supervisor(platform.stack).status("projector-1")
