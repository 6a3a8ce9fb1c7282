"""Service APIs as real uvicorn processes for fault tests: scratch databases, free ports, logs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.stack.settings import StackSettings
from annals.web.server import HTTP_PROTOCOL

FACTORIES = {
    "orders": "orders.entrypoints.app:create_app",
    "customers": "customers.entrypoints.app:create_app",
    "shipping": "shipping.entrypoints.app:create_app",
    "query": "query.app:create_app",
}
VIEW_SCHEMA = "readmodels"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveService:
    """One uvicorn process serving a service on 127.0.0.1:`port`; its stderr goes to `log`."""

    name: str
    port: int
    log: Path
    env: Mapping[str, str]
    workers: int = 1
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 60.0) -> None:
        """Spawn the process and wait until /readyz answers 200."""
        args = [
            sys.executable, "-m", "uvicorn", "--factory", FACTORIES[self.name],
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--no-access-log", "--log-level", "warning", "--http", HTTP_PROTOCOL,
        ]  # fmt: skip
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                args, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Terminate the process (killed after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def output(self) -> str:
        """What the process wrote so far."""
        return self.log.read_text(errors="replace")


def service_env(
    name: str, stack: StackSettings, database: str, port: int, **extra: str
) -> dict[str, str]:
    """ANNALS_<SVC>_* of a service on a scratch database of `stack`'s server."""
    prefix = f"ANNALS_{name.upper()}_"
    app_role = {"query": "query_app"}.get(name, f"{name}_app")
    owner = {"query": "readmodels_owner"}.get(name, f"{name}_owner")
    env = {
        "DATABASE": database,
        "DSN": stack.dsn(database, app_role),
        "OWNER_DSN": stack.dsn(database, owner),
        "PORT": str(port),
        "MIGRATE": "false" if name == "query" else "true",
        **extra,
    }
    return {prefix + key: value for key, value in env.items()}


async def install_order_summary(stack: StackSettings, database: str) -> None:
    """The order_summary read model's table in a scratch readmodels database, readable by the
    query API (what a projector would create; empty)."""
    conn = await asyncpg.connect(stack.dsn(database, "readmodels_owner"), timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{VIEW_SCHEMA}"')
        for table in ORDER_SUMMARY.table_sql(VIEW_SCHEMA).values():
            for statement in table.ddl():
                await conn.execute(statement)
        await conn.execute(f'GRANT USAGE ON SCHEMA "{VIEW_SCHEMA}" TO query_app')
        await conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{VIEW_SCHEMA}" TO query_app')
    finally:
        await conn.close()
