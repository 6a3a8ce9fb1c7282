"""The stack's Prometheus: its port, its scrape config and the platform's targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annals.stack import prometheus
from annals.stack.settings import StackSettings
from annals.topology import topology


def test_its_port_follows_connect_so_private_stacks_do_not_collide(tmp_path: Path) -> None:
    assert prometheus.port(StackSettings(dir=tmp_path, connect_port=8083)) == 9090
    assert prometheus.port(StackSettings(dir=tmp_path, connect_port=18370)) == 19377
    assert prometheus.port(StackSettings(dir=tmp_path, prometheus_port=9999)) == 9999


def test_every_declared_component_is_a_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANNALS_REGISTRY_PORT", "ANNALS_CONSOLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    stack = StackSettings(dir=tmp_path)
    config = prometheus.write_config(stack).read_text()
    assert "scrape_interval: 5s" in config and str(prometheus.targets_dir(stack)) in config
    groups = json.loads((prometheus.targets_dir(stack) / "platform.json").read_text())
    components = {g["labels"]["component"] for g in groups}
    declared = topology()
    assert set(declared.services) <= components
    assert {f"publisher-{s.name}" for s in declared.of_kind("command")} <= components
    assert {"projector-1", "projector-2"} <= components
    platform = {g["labels"]["component"]: g["targets"][0] for g in groups
                if g["labels"]["job"] == "platform"}  # fmt: skip
    assert platform == {
        "registry": "127.0.0.1:8081",
        "console": "127.0.0.1:8004",
        "connect": "127.0.0.1:9100",
    }
    ports = [g["targets"][0] for g in groups]
    assert len(ports) == len(set(ports))  # no two components share an address
