"""`annals connectors ...` against the real Connect worker, through the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from legacy.sandbox import LEGACY_CONFIG, Sandbox, sandbox

from annals.connect.configs import deploy_dir
from annals.connect.secrets import DEBEZIUM_KEY, debezium_password, reference
from annals.connect.slots import slot_info
from annals.stack.settings import StackSettings
from tests.integration.cdc.rig import annals

pytestmark = pytest.mark.stack


def write_config(rig: Sandbox, folder: Path, **overrides: str) -> Path:
    """The shipped template (placeholders kept) pointed at the rig, with overrides."""
    document = json.loads((deploy_dir(rig.stack) / LEGACY_CONFIG).read_text())
    document["name"] = rig.name
    document["config"].update({**rig.overrides(), **overrides})
    path = folder / f"{rig.name}-{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps(document, indent=2))
    return path


async def test_invalid_config_shows_the_errors_and_applies_nothing(
    stack: StackSettings, unique: str, tmp_path: Path
):
    async with sandbox(stack, unique) as rig:
        valid = write_config(rig, tmp_path)
        invalid = write_config(
            rig, tmp_path, **{"slot.name": "Bad-Slot!", "snapshot.mode": "sometimes"}
        )
        done = await asyncio.to_thread(annals, "connectors", "apply", str(valid), str(invalid))
        exists = await asyncio.to_thread(rig.connect.config, rig.name)

    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "invalid setting(s), nothing applied" in output
    assert "slot.name" in output and "Bad-Slot!" in output and "lowercase" in output
    assert "snapshot.mode" in output and "sometimes" in output
    assert exists is None  # the valid file of the same run was not applied either


async def test_apply_is_idempotent_then_status_restart_and_delete(
    stack: StackSettings, unique: str, tmp_path: Path
):
    async with sandbox(stack, unique) as rig:
        path = write_config(rig, tmp_path)
        first = await asyncio.to_thread(annals, "connectors", "apply", str(path))
        again = await asyncio.to_thread(annals, "connectors", "apply", str(path))
        changed = write_config(rig, tmp_path, **{"heartbeat.interval.ms": "5000"})
        updated = await asyncio.to_thread(annals, "connectors", "apply", str(changed))
        status = await asyncio.to_thread(annals, "connectors", "status", rig.name)
        restarted = await asyncio.to_thread(annals, "connectors", "restart", rig.name)
        stored = await asyncio.to_thread(rig.connect.config, rig.name)
        deleted = await asyncio.to_thread(annals, "connectors", "delete", rig.name, "--drop-slot")
        slot_after = await slot_info(rig.admin, rig.slot)

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{rig.name}: created" in first.stdout
    assert "RUNNING (task 0 RUNNING)" in first.stdout
    assert f"{rig.name}: unchanged" in again.stdout, again.stdout
    assert f"{rig.name}: updated" in updated.stdout, updated.stdout
    assert "RUNNING (task 0 RUNNING)" in updated.stdout
    assert status.returncode == 0, status.stdout
    assert "RUNNING" in status.stdout and rig.slot in status.stdout and "MiB" in status.stdout
    assert restarted.returncode == 0 and "RUNNING" in restarted.stdout, restarted.stdout
    assert stored is not None and stored["heartbeat.interval.ms"] == "5000"
    # a FileConfigProvider reference: Connect stores no password
    assert stored["database.password"] == reference(stack, DEBEZIUM_KEY)
    assert debezium_password(stack) not in json.dumps(stored)
    assert stored["database.port"] == str(stack.pg_port)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"slot {rig.slot}: dropped" in deleted.stdout
    assert slot_after is None


async def test_failed_connector_shows_the_task_trace(
    stack: StackSettings, unique: str, tmp_path: Path
):
    async with sandbox(stack, unique) as rig:
        # passes validation, fails when the task starts: the publication does not exist
        path = write_config(rig, tmp_path, **{"publication.name": f"missing_{unique}"})
        done = await asyncio.to_thread(annals, "connectors", "apply", str(path), "--timeout", "60")
        status = await asyncio.to_thread(annals, "connectors", "status", rig.name)

    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback (most recent call last)" not in output
    assert f"connector {rig.name!r} is FAILED" in output
    assert "task trace:" in output and "publication" in output.lower()
    assert status.returncode == 1 and "FAILED" in status.stdout


def test_connect_down_is_one_clear_line():
    done = annals("connectors", "status", env={"ANNALS_STACK_CONNECT_PORT": "1"})
    assert done.returncode == 1
    assert "does not answer" in done.stdout and "annals stack up" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
