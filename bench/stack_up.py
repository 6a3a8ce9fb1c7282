"""bench/stack_up: cold (empty directory) and warm (data kept) `annals stack up` times.

Runs a private stack on other ports beside the one already running, then removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Result, write_results

PORTS = {
    "ANNALS_STACK_PG_PORT": "57432",
    "ANNALS_STACK_KAFKA_PORT": "29092",
    "ANNALS_STACK_CONTROLLER_PORT": "29093",
    "ANNALS_STACK_CONNECT_PORT": "28083",
}


def _annals(directory: Path, *args: str) -> float:
    env = {**os.environ, **PORTS, "ANNALS_STACK_DIR": str(directory)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "annals.cli.main", "stack", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"annals stack {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    """Time cold and warm starts; write bench/results/stack_up.json."""
    directory = Path(tempfile.mkdtemp(prefix="annals-bench-stack-"))
    directory.chmod(0o755)
    try:
        cold = _annals(directory, "up")
        _annals(directory, "down")
        warm = _annals(directory, "up")
        _annals(directory, "down")
    finally:
        _annals(directory, "down")
        shutil.rmtree(directory, ignore_errors=True)
    write_results(
        "stack_up",
        [
            Result("cold stack up (empty dir, Maven cache warm)", cold, "s"),
            Result("warm stack up (data kept)", warm, "s"),
        ],
    )


if __name__ == "__main__":
    main()
