"""Projector workers under supervisord (`annals projectors up|down`): restarted when they crash.

Starting them is the admin step that creates their topics and dead-letter topics first: the
workers log in as `projector`, which may read and write its dead letters but create nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from annals.stack import procs
from annals.stack.settings import StackSettings
from annals.stack.supervisor import Program, Supervisor, passed_environment

METRICS_BASE = 9400
PREFIX = "projector-"


def component(index: int) -> str:
    """Name of projector process `index` (supervisord program and log file)."""
    return f"{PREFIX}{index}"


def running(stack: StackSettings) -> dict[int, int]:
    """Projector index -> pid of the processes alive."""
    out = {}
    for row in Supervisor(stack).status():
        if row.program.startswith(PREFIX) and row.alive and row.pid:
            out[int(row.program.removeprefix(PREFIX))] = row.pid
    return dict(sorted(out.items()))


def program(index: int, names: list[str], stack: StackSettings) -> Program:
    """The supervisord program of projector `index` (its own metrics port)."""
    env = {
        **passed_environment(os.environ),
        "ANNALS_PROJECTOR_METRICS_PORT": str(METRICS_BASE + index),
    }
    args = [sys.executable, "-m", "annals.cli.main", "projections", "run", *names]
    return Program(component(index), args, stack.repo, stack.log(component(index)), env)


def prepare_topics(names: list[str]) -> None:
    """Create the projections' topics and dead-letter topics, logged in as the CLI (admin)."""
    from annals.projections.process import pick
    from annals.projections.settings import ProjectorSettings
    from annals.projections.worker import prepare

    asyncio.run(asyncio.wait_for(prepare(pick(names), ProjectorSettings()), 60))


def start_projectors(processes: int, names: list[str], stack: StackSettings) -> dict[int, int]:
    """Start `processes` workers (one consumer group per projection, scaled out); index -> pid."""
    prepare_topics(names)
    supervisor = Supervisor(stack)
    for index in range(1, processes + 1):
        if not supervisor.pids(component(index)):
            procs.stop_pid(stack.pid_file(component(index)), grace=15)  # an older checkout's
            supervisor.add(program(index, names, stack))
    return {i: supervisor.spawned(component(i)) for i in range(1, processes + 1)}


def stop_projectors(stack: StackSettings) -> list[int]:
    """Stop every supervised projector; the indexes that were running."""
    supervisor = Supervisor(stack)
    programs = {r.program for r in supervisor.status() if r.program.startswith(PREFIX)}
    stopped = []
    for name in sorted(programs):
        if supervisor.remove(name):
            stopped.append(int(name.removeprefix(PREFIX)))
    for pid_file in stack.run_dir.glob(f"{PREFIX}*.pid"):  # detached by an older checkout
        procs.stop_pid(pid_file, grace=15)
    return stopped


def wait_alive(stack: StackSettings, seconds: float = 2.0) -> dict[int, int]:
    """The projectors running once their start settled (a crash at start shows here)."""
    supervisor = Supervisor(stack)
    deadline = time.monotonic() + max(seconds, 10.0)
    time.sleep(seconds)
    while time.monotonic() < deadline:
        rows = [r for r in supervisor.status() if r.program.startswith(PREFIX)]
        if not any(r.state == "STARTING" for r in rows):
            break
        time.sleep(0.2)
    return {
        int(r.program.removeprefix(PREFIX)): r.pid
        for r in supervisor.status()
        if r.program.startswith(PREFIX) and r.state == "RUNNING" and r.pid
    }
