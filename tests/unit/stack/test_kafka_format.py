"""The KRaft format command: a cluster id beginning with '-' is a value, not an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from annals.stack import kafka
from annals.stack.settings import StackSettings


def test_a_cluster_id_starting_with_a_dash_reaches_the_tool_as_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = StackSettings(dir=tmp_path)
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "cluster.id").write_text("-O8inMntRuC-Yc2IJ_kxdw\n")
    monkeypatch.setattr(kafka, "_config", lambda *_: tmp_path / "server.properties")
    monkeypatch.setattr(kafka.jvm, "java_command", lambda *args: [str(a) for a in args[4:]])
    seen: list[list[str]] = []

    class Formatting:  # the format tool runs one process per node, side by side
        returncode = 0

        def __init__(self, command: list[str], **_: object) -> None:
            seen.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(kafka.subprocess, "Popen", Formatting)
    assert kafka.format_storage(settings)
    assert "--cluster-id=-O8inMntRuC-Yc2IJ_kxdw" in seen[0]


def test_a_cluster_names_every_node_and_keeps_its_size(tmp_path: Path) -> None:
    from annals.stack import kafka_nodes
    from annals.stack.errors import StackError

    settings = StackSettings(dir=tmp_path, kafka_port=9500, controller_port=9501, kafka_brokers=3)
    kafka_nodes.settle(settings)
    assert settings.kafka_bootstrap == "127.0.0.1:9500,127.0.0.1:9502,127.0.0.1:9504"
    third = kafka_nodes.nodes(settings)[2]
    values = kafka_nodes.template_values(settings, third)
    assert (third.name, values["kafka_port"], values["controller_port"]) == ("kafka-3", 9504, 9505)
    assert values["voters"] == "1@127.0.0.1:9501,2@127.0.0.1:9503,3@127.0.0.1:9505"
    assert (values["replication"], values["min_isr"]) == (3, 2)
    later = StackSettings(dir=tmp_path, kafka_port=9500, controller_port=9501)
    assert kafka_nodes.count(later) == 3  # later commands on the same .stack/ see the cluster
    with pytest.raises(StackError, match="formatted with 3"):
        kafka_nodes.settle(later.model_copy(update={"kafka_brokers": 1}))


def test_a_single_broker_keeps_its_one_address(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, kafka_port=9500)
    assert settings.kafka_bootstrap == "127.0.0.1:9500"
