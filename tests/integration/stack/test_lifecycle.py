"""`annals stack up|status|down|reset` on a private stack started from an empty directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from annals.stack import kafka_auth, postgres, stack
from annals.stack.settings import StackSettings
from tests.integration.stack.conftest import Cli

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _pids(cli: Cli) -> dict[str, str]:
    settings = cli.settings()
    return {c: settings.pid_file(c).read_text().strip() for c in ("kafka", "connect")}


def _admin(settings: StackSettings) -> dict[str, object]:
    """The private stack's admin login (its own secrets, not the shared stack's)."""
    if settings.kafka_auth != "scram":
        return {}
    return kafka_auth.sasl_options("admin", kafka_auth.password(settings, "admin"))


async def _write_data(cli: Cli) -> None:
    settings = cli.settings()
    conn = await asyncpg.connect(settings.dsn("readmodels"))
    await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")
    await conn.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **_admin(settings), acks="all"
    )
    await producer.start()
    await producer.send_and_wait("lifecycle.kept", b"still here")
    await producer.stop()


async def _read_data(cli: Cli) -> tuple[str, bytes]:
    settings = cli.settings()
    conn = await asyncpg.connect(settings.dsn("readmodels"))
    note = await conn.fetchval("SELECT note FROM kept")
    await conn.close()
    consumer = AIOKafkaConsumer(
        "lifecycle.kept",
        bootstrap_servers=settings.kafka_bootstrap,
        **_admin(settings),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            record = await consumer.getone()
    finally:
        await consumer.stop()
    return note, record.value


def test_up_twice_status_down_up_keeps_data_and_reset_wipes(private_dir: Path):
    cli = Cli(private_dir)
    try:
        first = cli("stack", "up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert (private_dir / "pg" / "PG_VERSION").read_text().strip() == "15"
        pids = _pids(cli)

        second = cli("stack", "up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert _pids(cli) == pids, "a second `up` must not start anything again"

        status = cli("stack", "status")
        assert status.returncode == 0, status.stdout
        assert status.stdout.count("healthy") == len(stack.COMPONENTS)

        asyncio.run(_write_data(cli))
        down = cli("stack", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        stopped = cli("stack", "status")
        assert stopped.returncode == 1
        assert "healthy" not in stopped.stdout

        again = cli("stack", "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert asyncio.run(_read_data(cli)) == ("still here", b"still here")
    finally:
        cli("stack", "down")
    reset = cli("stack", "reset", "--yes")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not private_dir.exists()


def test_postgres_data_goes_outside_when_the_checkout_is_private(private_dir: Path):
    locked = private_dir / "home-of-root"
    locked.mkdir(mode=0o700)
    cli = Cli(locked / ".stack")
    settings = cli.settings()
    settings.dir.mkdir()
    try:
        postgres.initdb(settings)
        postgres.write_config(settings)
        postgres.start(settings)
        assert postgres.healthy(settings)
        assert (settings.dir / "pg").is_symlink()
        assert postgres.data_dir(settings).parent.parent == postgres.OUTSIDE_HOME
        assert "ready to accept connections" in settings.log("postgres").read_text()
    finally:
        postgres.stop(settings)
    outside = postgres.data_dir(settings).parent
    stack.reset(settings)
    assert not outside.exists()
    assert not settings.dir.exists()
