"""Kafka 4.3 in KRaft mode (broker and controller in one JVM): format once, start, check."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from annals.stack import jvm, kafka_auth
from annals.stack.errors import StackError
from annals.stack.procs import ensure_port_free, port_open, read_pid, stop_pid
from annals.stack.settings import StackSettings

NAME = "kafka"


def _config(settings: StackSettings) -> Path:
    data = settings.dir / "kafka" / "data"
    target = settings.run_dir / "server.properties"
    jvm.render(settings, "server.properties", target, data_dir=data)
    if settings.kafka_auth == "scram":
        sasl = jvm.render(settings, "server-sasl.properties", settings.run_dir / "server-sasl")
        target.write_text(target.read_text() + "\n" + sasl.read_text())
        sasl.unlink()
    return target


def format_storage(settings: StackSettings) -> bool:
    """Format the KRaft log directory once (keeps its cluster id); True when it formatted."""
    data = settings.dir / "kafka" / "data"
    if (data / "meta.properties").exists():
        return False
    id_file = settings.dir / "kafka" / "cluster.id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.exists():
        raw = uuid.uuid4().bytes
        id_file.write_text(base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n")
    config = _config(settings)
    command = jvm.java_command(
        settings, NAME, settings.jars_dir / "kafka", "-Xmx256m",
        "kafka.tools.StorageTool", "format", f"--cluster-id={id_file.read_text().strip()}",
        "-c", str(config), "--ignore-formatted", *kafka_auth.format_args(settings),
    )  # fmt: skip
    log = settings.log("kafka-format")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise StackError(NAME, f"storage format failed (exit {done.returncode})", f"see {log}")
    kafka_auth.mark_formatted(settings)
    return True


def start(settings: StackSettings) -> None:
    """Start the broker unless its pid file names a live process, then wait until healthy."""
    if read_pid(settings.pid_file(NAME)) is None:
        ensure_port_free(NAME, settings.host, settings.kafka_port, "ANNALS_STACK_KAFKA_PORT")
        ensure_port_free(
            NAME, settings.host, settings.controller_port, "ANNALS_STACK_CONTROLLER_PORT"
        )
        format_storage(settings)
        config = _config(settings)
        command = jvm.java_command(
            settings, NAME, settings.jars_dir / "kafka", settings.kafka_heap, "kafka.Kafka",
            str(config),
        )  # fmt: skip
        jvm.launch(settings, NAME, command)
    jvm.wait_healthy(settings, NAME, lambda: healthy(settings), "broker metadata")
    if settings.kafka_auth == "scram":
        secure(settings)


def secure(settings: StackSettings) -> None:
    """Give principals without one their SCRAM credential and apply the ACLs (idempotent)."""
    missing = kafka_auth.missing_users(settings)
    if missing:
        add_credentials(settings, missing)
    if not kafka_auth.acls_current(settings):
        asyncio.run(kafka_auth.apply_acls(settings))
        kafka_auth.mark_acls(settings)


def healthy(settings: StackSettings) -> bool:
    """True when the broker answers a cluster description on its client port."""
    if not port_open(settings.host, settings.kafka_port):
        return False
    try:
        return asyncio.run(_describe(settings))
    except (TimeoutError, KafkaError, OSError):
        return False


async def _describe(settings: StackSettings) -> bool:
    bootstrap = settings.kafka_bootstrap
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **kafka_auth.stack_security(settings)
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    finally:
        await admin.close()


def stop(settings: StackSettings) -> bool:
    """Stop the broker (controlled shutdown); True when it was running."""
    return stop_pid(settings.pid_file(NAME), grace=60)


def add_credentials(settings: StackSettings, users: list[str]) -> None:
    """Write SCRAM credentials of `users` with Kafka's ConfigCommand, logged in as admin."""
    config = kafka_auth.admin_properties(settings)
    log = settings.log("kafka-scram")
    for user in users:
        secret = kafka_auth.password(settings, user)
        command = jvm.java_command(
            settings, NAME, settings.jars_dir / "kafka", "-Xmx128m", "kafka.admin.ConfigCommand",
            "--bootstrap-server", settings.kafka_bootstrap,
            "--command-config", str(config), "--alter", "--entity-type", "users",
            "--entity-name", user,
            "--add-config", f"{kafka_auth.MECHANISM}=[password={secret}]",
        )  # fmt: skip
        with open(log, "ab") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise StackError(NAME, f"adding the SCRAM user {user} failed", f"see {log}")
        kafka_auth.record_user(settings, user)
