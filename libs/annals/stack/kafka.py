"""Kafka 4.3 in KRaft mode (broker and controller in one JVM a node, one node or a cluster):
format once, start, check."""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import subprocess
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from annals.stack import jvm, kafka_auth, kafka_nodes
from annals.stack.errors import StackError
from annals.stack.kafka_nodes import Node
from annals.stack.procs import ensure_port_free, port_open, read_pid, signal_pid, stop_pid
from annals.stack.settings import StackSettings

NAME = "kafka"


def _config(settings: StackSettings, node: Node | None = None) -> Path:
    node = node or kafka_nodes.nodes(settings)[0]
    values = kafka_nodes.template_values(settings, node)
    data = kafka_nodes.data_dir(settings, node)
    target = settings.run_dir / f"server-{node.id}.properties"
    jvm.render(settings, "server.properties", target, data_dir=data, **values)
    blocks = ["server-sasl.properties"] if settings.kafka_auth == "scram" else []
    if kafka_nodes.count(settings) > 1:
        blocks.append("server-cluster.properties")
    for block in blocks:  # later lines win: these replace the single broker's values
        extra = jvm.render(settings, block, settings.run_dir / f"{block}-{node.id}", **values)
        target.write_text(target.read_text() + "\n" + extra.read_text())
        extra.unlink()
    return target


def format_storage(settings: StackSettings, node: Node | None = None) -> bool:
    """Format the KRaft log directory once (keeps its cluster id); True when it formatted."""
    return bool(format_nodes(settings, [node or kafka_nodes.nodes(settings)[0]]))


def format_nodes(settings: StackSettings, nodes: list[Node]) -> list[Node]:
    """Format the nodes not formatted yet, at the same time (one JVM each); those it formatted."""
    todo = [
        n for n in nodes if not (kafka_nodes.data_dir(settings, n) / "meta.properties").exists()
    ]
    if not todo:
        return []
    cluster_id = _cluster_id(settings)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    running = []
    for node in todo:
        config = _config(settings, node)
        command = jvm.java_command(
            settings, NAME, settings.jars_dir / "kafka", "-Xmx256m",
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
            "-c", str(config), "--ignore-formatted", *kafka_auth.format_args(settings),
        )  # fmt: skip
        log = settings.log(f"{node.name}-format")
        with open(log, "wb") as out:
            running.append((log, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)))
    for log, process in running:
        if process.wait() != 0:
            raise StackError(
                NAME, f"storage format failed (exit {process.returncode})", f"see {log}"
            )
    kafka_auth.mark_formatted(settings)
    return todo


def _cluster_id(settings: StackSettings) -> str:
    id_file = settings.dir / "kafka" / "cluster.id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    if not id_file.exists():
        raw = uuid.uuid4().bytes
        id_file.write_text(base64.urlsafe_b64encode(raw).decode().rstrip("=") + "\n")
    return id_file.read_text().strip()


def start(settings: StackSettings) -> None:
    """Start every node whose pid file names no live process, then wait until all are healthy."""
    kafka_nodes.settle(settings)
    idle = [n for n in kafka_nodes.nodes(settings) if read_pid(settings.pid_file(n.name)) is None]
    format_nodes(settings, idle)
    for node in idle:
        start_node(settings, node, wait=False)
    for node in kafka_nodes.nodes(settings):
        jvm.wait_healthy(settings, node.name, lambda: healthy(settings), "broker metadata")
    if settings.kafka_auth == "scram":
        secure(settings)


def start_node(settings: StackSettings, node: Node, wait: bool = True) -> None:
    """Start one node unless it runs (formatting it the first time); wait for its client port."""
    if read_pid(settings.pid_file(node.name)) is None:
        ensure_port_free(node.name, settings.host, node.port, "ANNALS_STACK_KAFKA_PORT")
        ensure_port_free(
            node.name, settings.host, node.controller_port, "ANNALS_STACK_CONTROLLER_PORT"
        )
        format_storage(settings, node)
        config = _config(settings, node)
        alone = kafka_nodes.count(settings) == 1
        heap = settings.kafka_heap if alone else settings.kafka_cluster_heap
        command = jvm.java_command(
            settings, node.name, settings.jars_dir / "kafka", heap, "kafka.Kafka", str(config)
        )
        jvm.launch(settings, node.name, command)
    if wait:
        up = lambda: port_open(settings.host, node.port)  # noqa: E731
        jvm.wait_healthy(settings, node.name, up, "client port")


def secure(settings: StackSettings) -> None:
    """Give principals without one their SCRAM credential and apply the ACLs (idempotent)."""
    missing = kafka_auth.missing_users(settings)
    if missing:
        add_credentials(settings, missing)
    if not kafka_auth.acls_current(settings):
        asyncio.run(kafka_auth.apply_acls(settings))
        kafka_auth.mark_acls(settings)


def running_auth(settings: StackSettings) -> str | None:
    """The auth mode ("none" or "scram") a broker answers on the client port in, if any."""
    client_log = logging.getLogger("aiokafka.client")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # the probe in the wrong mode fails by design
    try:
        for mode in sorted(("scram", "none"), key=lambda m: m != settings.kafka_auth):
            if healthy(settings.model_copy(update={"kafka_auth": mode})):
                return mode
        return None
    finally:
        client_log.setLevel(level)


def listeners_changed(settings: StackSettings) -> bool:
    """True when a running broker's client listener is not the one the settings want.

    A stack started without authentication (the default before SCRAM was) is such a broker:
    it has to be restarted on the new listeners before clients can log in.
    """
    if read_pid(settings.pid_file(NAME)) is None:
        return False
    mode = running_auth(settings)
    return mode is not None and mode != settings.kafka_auth


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
        return len(cluster.get("brokers") or ()) >= kafka_nodes.count(settings)
    finally:
        await admin.close()


def stop(settings: StackSettings) -> bool:
    """Stop every node (controlled shutdown, all at once); True when one was running."""
    running = [n for n in kafka_nodes.nodes(settings) if read_pid(settings.pid_file(n.name))]
    for node in running[1:]:  # a node left alone without a quorum could not shut down cleanly
        signal_pid(settings.pid_file(node.name), signal.SIGTERM)
    stopped = [stop_pid(settings.pid_file(node.name), grace=60) for node in running]
    return any(stopped)


def kill_node(settings: StackSettings, node: Node) -> None:
    """kill -9 one node (fault tests): no controlled shutdown, no goodbye to the cluster."""
    signal_pid(settings.pid_file(node.name), signal.SIGKILL)


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
