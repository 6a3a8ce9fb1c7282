"""Prometheus for the native stack: Debian's binary scraping every platform component (issue 16).

The console's charts read its HTTP API. The scrape config is rendered into .stack/run/prometheus;
the targets are file-based discovery files beside it (`targets/*.json`): `platform.json` is
written here from the declared topology (each service's HTTP port, each publisher's and
projector's metrics port) and the platform's own processes (the schema registry's and the
console's HTTP ports, Connect's JMX exporter), and tests or tools may drop their own file
there, which Prometheus picks up without a restart. The data lives in .stack/prometheus (a
week is kept).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from annals.stack import jvm
from annals.stack.procs import ensure_port_free, read_pid, spawn, stop_pid
from annals.stack.settings import StackSettings
from annals.topology import resolve, topology

NAME = "prometheus"
PROJECTORS = 2  # `annals projectors up` starts two workers unless told otherwise
PROJECTOR_METRICS_BASE = 9400  # annals.projections.launcher.METRICS_BASE (not imported: cycle)
# The platform's own HTTP processes (not in the declared topology), job `platform`.
PLATFORM = {
    "registry": "annals.registry.settings:RegistrySettings",
    "console": "annals.console.settings:ConsoleSettings",
}


def binary(settings: StackSettings) -> str | None:
    """The prometheus executable, or None where it is not installed."""
    return settings.prometheus_bin or shutil.which("prometheus")


def enabled(settings: StackSettings) -> bool:
    """Whether the stack runs Prometheus (on, and the binary found)."""
    return settings.prometheus and binary(settings) is not None


def port(settings: StackSettings) -> int:
    """Its port: set, or derived from Connect's so stacks on other ports do not collide."""
    return settings.prometheus_port or settings.connect_port + 1007  # 9090 by default


def url(settings: StackSettings) -> str:
    """Base URL of its HTTP API."""
    return f"http://{settings.host}:{port(settings)}"


def publisher_port(settings: StackSettings, service: str) -> int:
    """The metrics port of a command service's publisher (next to Prometheus's)."""
    names = sorted(s.name for s in topology().of_kind("command"))
    base = settings.publisher_metrics_base or port(settings) + 10
    return base + 1 + names.index(service)


def connect_port(settings: StackSettings) -> int:
    """The metrics port of Connect's JMX exporter: set, or Prometheus's + 10 (below the
    publishers')."""
    return settings.connect_metrics_port or port(settings) + 10


def folder(settings: StackSettings) -> Path:
    """Config and target files."""
    return settings.run_dir / NAME


def targets_dir(settings: StackSettings) -> Path:
    """Where file-based discovery looks (*.json)."""
    return folder(settings) / "targets"


def _service_port(ref: str) -> int | None:
    try:
        return int(resolve(ref)().port)
    except Exception:  # settings that cannot be built here: that service is not scraped
        return None


def targets(settings: StackSettings, projectors: int = PROJECTORS) -> list[dict[str, Any]]:
    """The platform's scrape targets, one group a job, from the declared topology."""
    declared = topology()
    host = settings.host
    services = [(s.name, p) for s in declared.services.values() if (p := _service_port(s.settings))]
    publishers = [s.name for s in declared.of_kind("command")]
    platform = [(name, p) for name, ref in PLATFORM.items() if (p := _service_port(ref))]
    return [
        *({"targets": [f"{host}:{p}"], "labels": {"job": "services", "component": name}}
          for name, p in services),
        *({"targets": [f"{host}:{publisher_port(settings, name)}"],
           "labels": {"job": "publishers", "component": f"publisher-{name}"}}
          for name in publishers),
        *({"targets": [f"{host}:{PROJECTOR_METRICS_BASE + i}"],
           "labels": {"job": "projectors", "component": f"projector-{i}"}}
          for i in range(1, projectors + 1)),
        *({"targets": [f"{host}:{p}"], "labels": {"job": "platform", "component": name}}
          for name, p in platform),
        {"targets": [f"{host}:{connect_port(settings)}"],
         "labels": {"job": "platform", "component": "connect"}},
    ]  # fmt: skip


def write_targets(path: Path, groups: list[dict[str, Any]]) -> None:
    """Write a discovery file atomically (Prometheus may read it at any moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(groups, indent=1))
    partial.replace(path)


def write_config(settings: StackSettings) -> Path:
    """Render prometheus.yml and the platform's targets; the config file."""
    write_targets(targets_dir(settings) / "platform.json", targets(settings))
    return jvm.render(
        settings, "prometheus.yml", folder(settings) / "prometheus.yml",
        interval=f"{settings.prometheus_scrape_s}s", targets=targets_dir(settings),
        prometheus_port=port(settings),
    )  # fmt: skip


def start(settings: StackSettings) -> None:
    """Start Prometheus unless it runs (the targets are rewritten either way), wait until ready."""
    config = write_config(settings)
    if read_pid(settings.pid_file(NAME)) is None:
        ensure_port_free(NAME, settings.host, port(settings), "ANNALS_STACK_PROMETHEUS_PORT")
        data = settings.dir / NAME
        data.mkdir(parents=True, exist_ok=True)
        command = [
            str(binary(settings)), f"--config.file={config}", f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address={settings.host}:{port(settings)}",
            "--log.level=warn",
        ]  # fmt: skip
        spawn(command, settings.log(NAME), settings.pid_file(NAME), settings.dir)
    jvm.wait_healthy(settings, NAME, lambda: healthy(settings), "GET /-/ready")


def healthy(settings: StackSettings) -> bool:
    """True when /-/ready answers 200."""
    try:
        return httpx.get(f"{url(settings)}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(settings: StackSettings) -> bool:
    """Stop Prometheus; True when it was running."""
    return stop_pid(settings.pid_file(NAME), grace=30)
