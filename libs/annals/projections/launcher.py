"""Detached projector workers and the query API (`annals projectors|query up|down`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from annals.stack import procs
from annals.stack.settings import StackSettings

METRICS_BASE = 9400


def component(index: int) -> str:
    """Name of projector process `index` under .stack/ (pid and log files)."""
    return f"projector-{index}"


def running(stack: StackSettings) -> dict[int, int]:
    """Projector index -> pid of the processes alive."""
    out = {}
    for pid_file in sorted(stack.run_dir.glob("projector-*.pid")):
        index = int(pid_file.stem.split("-")[1])
        pid = procs.read_pid(pid_file)
        if pid is not None:
            out[index] = pid
    return out


def start_projectors(processes: int, names: list[str], stack: StackSettings) -> dict[int, int]:
    """Start `processes` workers (one consumer group per projection, scaled out); index -> pid."""
    started = {}
    for index in range(1, processes + 1):
        pid_file = stack.pid_file(component(index))
        pid = procs.read_pid(pid_file)
        if pid is None:
            args = [sys.executable, "-m", "annals.cli.main", "projections", "run", *names]
            env = {"ANNALS_PROJECTOR_METRICS_PORT": str(METRICS_BASE + index)}
            pid = _spawn(args, stack.log(component(index)), pid_file, stack, env)
        started[index] = pid
    return started


def _spawn(
    args: list[str], log: Path, pid_file: Path, stack: StackSettings, env: dict[str, str]
) -> int:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return procs.spawn(args, log, pid_file, stack.repo)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stop_projectors(stack: StackSettings) -> list[int]:
    """Stop every detached projector; the indexes that were running."""
    stopped = []
    for index in running(stack):
        if procs.stop_pid(stack.pid_file(component(index)), grace=15):
            stopped.append(index)
    return stopped


def wait_alive(stack: StackSettings, seconds: float = 2.0) -> dict[int, int]:
    """The projectors still alive after `seconds` (a crash at start shows here)."""
    time.sleep(seconds)
    return running(stack)
