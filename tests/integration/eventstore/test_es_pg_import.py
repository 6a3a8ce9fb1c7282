"""Bulk import through COPY, the CLI commands, and version conflicts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from annals.cli.main import app
from annals.eventstore import NewEvent, importer
from annals.eventstore.errors import ImportConflict, InvalidEvent
from annals.eventstore.importer import import_file
from annals.eventstore.postgres import PostgresEventStore
from tests.integration.eventstore.conftest import APP, ScratchDatabase

pytestmark = pytest.mark.stack


def write_ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def test_import_assigns_versions_and_streams_continue(
    pg_store: PostgresEventStore, es_database: ScratchDatabase, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    existing = f"legacy-{tag}-0"
    await pg_store.append(existing, [NewEvent("Before", {"i": 0})])
    rows = [
        {"stream_id": f"legacy-{tag}-{i % 7}", "event_type": "Imported", "data": {"i": i}}
        for i in range(100)
    ]
    rows[3]["metadata"] = {"source": "erp"}
    rows[3]["recorded_at"] = "2019-05-01T10:00:00+00:00"
    stats = await import_file(
        es_database.app_dsn, write_ndjson(tmp_path / "a.ndjson", rows), chunk_size=30
    )
    assert stats.events == 100 and stats.streams == 6
    first = await pg_store.read_stream(existing)
    assert [e.version for e in first] == list(range(1, 17))
    assert [e.data["i"] for e in first[1:]] == list(range(0, 100, 7))
    info = await pg_store.get_stream(existing)
    assert info is not None and info.version == 16
    assert (await pg_store.append(existing, [NewEvent("After", {})], 16)).version == 17
    three = (await pg_store.read_stream(f"legacy-{tag}-3"))[0]
    assert three.metadata == {"source": "erp"} and three.recorded_at.year == 2019
    everything = await pg_store.read_all(None, 100_000, event_types=["Imported"])
    imported = [e.event_id for e in everything if tag in e.stream_id]
    assert len(set(imported)) == 100 and {i.version for i in imported} == {7}


async def test_import_refuses_version_conflicts_and_bad_lines(
    pg_store: PostgresEventStore, es_database: ScratchDatabase, tmp_path: Path
) -> None:
    stream = f"legacy-{uuid.uuid4().hex[:8]}"
    await pg_store.append(stream, [NewEvent("Before", {})])
    gap = [{"stream_id": stream, "event_type": "X", "data": {}, "version": 3}]
    with pytest.raises(ImportConflict, match="version 1, the line has version 3"):
        await import_file(es_database.app_dsn, write_ndjson(tmp_path / "gap.ndjson", gap))
    eid = str(uuid.uuid4())
    dup = [{"stream_id": stream, "event_type": "X", "data": {}, "event_id": eid}]
    await import_file(es_database.app_dsn, write_ndjson(tmp_path / "one.ndjson", dup))
    with pytest.raises(ImportConflict, match="already in the store"):
        await import_file(es_database.app_dsn, tmp_path / "one.ndjson")
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"stream_id": "x-1", "event_type": "X", "data": {}}\n{"stream_id": 5}\n')
    with pytest.raises(InvalidEvent, match="line 2"):
        await import_file(es_database.app_dsn, bad)
    assert (await pg_store.get_stream(stream)).version == 2  # type: ignore[union-attr]
    assert await pg_store.get_stream("x-1") is None


def test_cli_migrate_and_import(
    es_database: ScratchDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANNALS_SCRATCH_OWNER_DSN", es_database.owner_dsn)
    monkeypatch.setenv("ANNALS_SCRATCH_DSN", es_database.app_dsn)
    monkeypatch.setenv("ANNALS_SCRATCH_APP_ROLE", APP)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "migrate", "scratch"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    rows = [{"stream_id": f"cli-{uuid.uuid4().hex[:8]}", "event_type": "X", "data": {}}] * 3
    path = write_ndjson(tmp_path / "cli.ndjson", rows)
    result = runner.invoke(app, ["import", "scratch", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 3 events (1 new streams)" in result.output
    result = runner.invoke(app, ["import", "scratch", str(tmp_path / "missing.ndjson")])
    assert result.exit_code != 0


async def test_chunks_touch_only_their_own_streams_in_a_big_store(
    es_database: ScratchDatabase,
) -> None:
    """The statements that read or update `streams` probe its index (no scan of every stream)."""
    tag = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(es_database.app_dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO eventstore.streams (stream_id, stream_type, version) "
                "SELECT $1 || g, 'big', 1 FROM generate_series(1, 50000) g",
                f"big-{tag}-",
            )
            await conn.execute("ANALYZE eventstore.streams")
            await conn.execute(importer.STAGE)
            await conn.execute(
                "INSERT INTO import_rows VALUES (1, $1, 'big', 1, '{}')", f"big-{tag}-7"
            )
            assert await conn.fetchval(importer.LOCK) == 0
            for statement in (importer.LOCK, importer.SET_VERSIONS):
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {statement}"))
                assert "Seq Scan on streams" not in plan, plan
            assert "eventstore.streams" not in importer.MOVE.split("FROM", 1)[1]
            raise asyncpg.exceptions.RaiseError("roll back")  # keep the shared store small
    except asyncpg.exceptions.RaiseError:
        pass
    finally:
        await conn.close()
