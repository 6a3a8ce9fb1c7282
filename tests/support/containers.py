"""The stack from containers (testcontainers), for machines where a Docker engine answers.

Same images and settings as docker-compose.yml; only used when the native stack cannot start
(or ANNALS_STACK=testcontainers). Ports are the containers' mapped ones, given back as
StackSettings so tests do not care which stack they run on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from annals.stack.settings import REPO_ROOT, StackSettings

PASSWORD = "annals-local"


def docker_answers() -> bool:
    """True when a Docker engine answers a ping."""
    try:
        import docker  # type: ignore[import-untyped]

        return bool(docker.from_env().ping())
    except Exception:
        return False


@contextmanager
def container_stack() -> Iterator[StackSettings]:
    """Start PostgreSQL, Kafka and Connect with Debezium in containers; yield their settings."""
    from testcontainers.core.container import DockerContainer  # type: ignore[import-untyped]
    from testcontainers.core.network import Network  # type: ignore[import-untyped]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-untyped]
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

    init = Path(REPO_ROOT / "deploy" / "docker" / "postgres-init")
    with ExitStack() as stack:
        network = stack.enter_context(Network())
        postgres = (
            DockerContainer("postgres:15")
            .with_network(network)
            .with_network_aliases("postgres")
            .with_env("POSTGRES_PASSWORD", PASSWORD)
            .with_env("ANNALS_ROLE_PASSWORD", PASSWORD)
            .with_volume_mapping(str(init), "/docker-entrypoint-initdb.d", "ro")
            .with_command("postgres -c wal_level=logical -c max_replication_slots=20")
            .with_exposed_ports(5432)
        )
        stack.enter_context(postgres)
        wait_for_logs(postgres, "database system is ready to accept connections", timeout=120)
        # testcontainers' Kafka module advertises the mapped port to the host and an internal
        # listener (alias:9092) to the network, which a plain broker container cannot do.
        kafka = (
            KafkaContainer("confluentinc/cp-kafka:7.6.1")
            .with_kraft()
            .with_network(network)
            .with_network_aliases("kafka")
            .with_env("KAFKA_NUM_PARTITIONS", "6")
        )
        stack.enter_context(kafka)
        connect = (
            DockerContainer("quay.io/debezium/connect:3.6.1.Final")
            .with_network(network)
            .with_env("BOOTSTRAP_SERVERS", "kafka:9092")
            .with_env("GROUP_ID", "annals-connect")
            .with_env("CONFIG_STORAGE_TOPIC", "_annals_connect_configs")
            .with_env("OFFSET_STORAGE_TOPIC", "_annals_connect_offsets")
            .with_env("STATUS_STORAGE_TOPIC", "_annals_connect_status")
            .with_env("CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE", "false")
            .with_env("CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE", "false")
            .with_exposed_ports(8083)
        )
        stack.enter_context(connect)
        settings = StackSettings(
            host=postgres.get_container_host_ip(),
            pg_port=int(postgres.get_exposed_port(5432)),
            pg_password=PASSWORD,
            pg_least_privilege=False,
            kafka_port=int(kafka.get_bootstrap_server().rsplit(":", 1)[1]),
            connect_port=int(connect.get_exposed_port(8083)),
        )
        _wait_for_connect(settings.connect_url)
        yield settings


def _wait_for_connect(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/connectors", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"Kafka Connect at {url} did not answer within {timeout}s")
