"""Helpers to run the real `annals stack` command against a second, private stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from annals.stack.settings import StackSettings


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# Ports of the private stack: free ones picked per session, so a second test run on the same
# machine (or the shared stack) never collides with it.
PRIVATE_PORTS = dict(
    zip(
        (
            "ANNALS_STACK_PG_PORT",
            "ANNALS_STACK_KAFKA_PORT",
            "ANNALS_STACK_CONTROLLER_PORT",
            "ANNALS_STACK_CONNECT_PORT",
            "ANNALS_STACK_PROMETHEUS_PORT",
            "ANNALS_STACK_CONNECT_METRICS_PORT",
        ),
        map(str, _free_ports(6)),
        strict=True,
    )
)


class Cli:
    """Runs `annals ...` in a subprocess with a private stack directory and ports."""

    def __init__(self, directory: Path, **overrides: str) -> None:
        self.env = {
            **os.environ,
            **PRIVATE_PORTS,
            "ANNALS_STACK_DIR": str(directory),
            **overrides,
        }
        self.env.pop("ANNALS_STACK", None)
        # The commands log in to Kafka as their own components, not as the tests' admin.
        if self.env.get("ANNALS_KAFKA_PRINCIPAL") == "admin":
            self.env.pop("ANNALS_KAFKA_PRINCIPAL")
        self.directory = directory

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "annals.cli.main", *args],
            env={**self.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def settings(self) -> StackSettings:
        """The StackSettings this CLI's processes see."""
        return StackSettings(
            dir=self.directory,
            pg_port=int(PRIVATE_PORTS["ANNALS_STACK_PG_PORT"]),
            kafka_port=int(PRIVATE_PORTS["ANNALS_STACK_KAFKA_PORT"]),
            controller_port=int(PRIVATE_PORTS["ANNALS_STACK_CONTROLLER_PORT"]),
            connect_port=int(PRIVATE_PORTS["ANNALS_STACK_CONNECT_PORT"]),
            prometheus_port=int(PRIVATE_PORTS["ANNALS_STACK_PROMETHEUS_PORT"]),
            connect_metrics_port=int(PRIVATE_PORTS["ANNALS_STACK_CONNECT_METRICS_PORT"]),
        )


@pytest.fixture
def private_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty stack directory that user `postgres` can reach."""
    directory = tmp_path_factory.mktemp("stack")
    for folder in (directory, *directory.parents):
        if str(folder).startswith("/tmp/"):
            folder.chmod(folder.stat().st_mode | 0o055)
    yield directory
