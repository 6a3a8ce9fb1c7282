"""The KRaft format command: a cluster id beginning with '-' is a value, not an option."""

from __future__ import annotations

import subprocess
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
    monkeypatch.setattr(kafka, "_config", lambda _: tmp_path / "server.properties")
    monkeypatch.setattr(kafka.jvm, "java_command", lambda *args: [str(a) for a in args[4:]])
    seen: list[list[str]] = []

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(kafka.subprocess, "run", run)
    assert kafka.format_storage(settings)
    assert "--cluster-id=-O8inMntRuC-Yc2IJ_kxdw" in seen[0]
