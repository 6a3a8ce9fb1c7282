"""The nodes of the local Kafka: one KRaft node, or a cluster of them (`--kafka-brokers 3`).

Node 1 keeps the single broker's names (component `kafka`, data under .stack/kafka/data, the
ports ANNALS_STACK_KAFKA_PORT and _CONTROLLER_PORT); node n > 1 is component `kafka-<n>` on
those ports plus `kafka_port_step * (n - 1)`. A cluster's size is recorded when its storage is
first formatted (.stack/kafka/brokers): its quorum is fixed then, so later commands on the same
.stack/ reach every node whatever ANNALS_STACK_KAFKA_BROKERS says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

MIN_INSYNC = 2  # of a cluster: acks=all survives one node down, and refuses with two down


@dataclass(frozen=True)
class Node:
    """One KRaft node (broker and controller in one JVM)."""

    id: int
    port: int
    controller_port: int

    @property
    def name(self) -> str:
        """Component name: pid file, logs."""
        return "kafka" if self.id == 1 else f"kafka-{self.id}"


def _recorded(settings: StackSettings) -> Path:
    return settings.dir / "kafka" / "brokers"


def count(settings: StackSettings) -> int:
    """How many nodes the stack has: its recorded size, else the setting (1 by default)."""
    try:
        return int(_recorded(settings).read_text().strip())
    except (OSError, ValueError):
        return max(1, settings.kafka_brokers)


def settle(settings: StackSettings) -> None:
    """Record the cluster's size before a node formats; StackError when it has another size."""
    path = _recorded(settings)
    if not path.exists() and (settings.dir / "kafka" / "data" / "meta.properties").exists():
        path.write_text("1\n")  # a single broker formatted before sizes were recorded
    size = count(settings)
    if settings.kafka_brokers not in (0, size):
        raise StackError(
            "kafka",
            f"the stack's Kafka was formatted with {size} node(s), not {settings.kafka_brokers}",
            "start it without --kafka-brokers, or `annals stack reset` first",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{size}\n")


def nodes(settings: StackSettings) -> list[Node]:
    """Every node of the stack's Kafka."""
    step = settings.kafka_port_step
    return [
        Node(n, settings.kafka_port + step * (n - 1), settings.controller_port + step * (n - 1))
        for n in range(1, count(settings) + 1)
    ]


def bootstrap(settings: StackSettings) -> str:
    """Bootstrap servers naming every node (a client reaches the cluster while one answers)."""
    return ",".join(f"{settings.host}:{node.port}" for node in nodes(settings))


def replication(settings: StackSettings) -> int:
    """Replication factor of the stack's topics: 3 on a cluster of three or more, else 1."""
    return min(3, count(settings))


def data_dir(settings: StackSettings, node: Node) -> Path:
    """The node's KRaft log directory."""
    return settings.dir / node.name / "data"


def template_values(settings: StackSettings, node: Node) -> dict[str, object]:
    """Placeholders of the server templates for `node`: its ports, id and the quorum."""
    voters = ",".join(f"{n.id}@{settings.host}:{n.controller_port}" for n in nodes(settings))
    return {
        "kafka_port": node.port,
        "controller_port": node.controller_port,
        "node_id": node.id,
        "voters": voters,
        "replication": replication(settings),
        "min_isr": min(MIN_INSYNC, replication(settings)),
    }
