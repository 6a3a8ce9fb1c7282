"""The migration runner's rules on the in-memory database: order, once only, adoption, failure."""

from __future__ import annotations

import asyncio

import pytest

from annals.migrations import MigrationFailed, Step, pending, run
from annals.migrations.memory import MemoryDatabase
from annals.migrations.runner import ordered

A1 = Step("a", 1, "first", "A1")
A2 = Step("a", 2, "second", "A2")
B1 = Step("b", 1, "other", lambda: "B1")
A100 = Step("a", 100, "library", "A100")


async def test_applies_in_component_then_version_order_and_records() -> None:
    db = MemoryDatabase()
    applied = await run(db.session(), [A1, B1, A100, A2], always=["GRANT"])
    assert [s.key for s in applied] == [("a", 1), ("a", 2), ("a", 100), ("b", 1)]
    assert db.executed == ["A1", "A2", "A100", "B1", "GRANT"]
    assert set(db.records) == {A1.key, A2.key, A100.key, B1.key}


async def test_a_second_run_applies_nothing_and_runs_only_the_grants() -> None:
    db = MemoryDatabase()
    await run(db.session(), [A1, A2])
    db.executed.clear()
    assert await run(db.session(), [A1, A2], always=["GRANT"]) == []
    assert db.executed == ["GRANT"]


async def test_a_step_added_later_is_applied_even_below_an_applied_version() -> None:
    db = MemoryDatabase()
    await run(db.session(), [A1, A100])
    assert await run(db.session(), [A1, A2, A100]) == [A2]


async def test_concurrent_runs_apply_each_step_once() -> None:
    db = MemoryDatabase()
    results = await asyncio.gather(*(run(db.session(), [A1, A2, B1]) for _ in range(5)))
    assert sorted(s.key for r in results for s in r) == [("a", 1), ("a", 2), ("b", 1)]
    assert sorted(db.executed) == ["A1", "A2", "B1"]


async def test_steps_an_older_runner_applied_are_adopted_not_run() -> None:
    db = MemoryDatabase(old_tables={"a.schema_migrations": {1}})
    old = [
        Step("a", v, n, f"A{v}", recorded_in="a.schema_migrations") for v, n in ((1, "x"), (2, "y"))
    ]
    assert [s.key for s in await pending(db.session(), old)] == [("a", 2)]
    assert await run(db.session(), old) == [old[1]]
    assert db.executed == ["A2"]
    assert db.records == {("a", 1): "a.schema_migrations", ("a", 2): None}


async def test_a_failing_step_rolls_back_alone_and_names_itself() -> None:
    db = MemoryDatabase(name="orders", failing={"A2"})
    with pytest.raises(MigrationFailed) as caught:
        await run(db.session(), [A1, A2, B1])
    assert str(caught.value) == (
        "orders: migration step a 2 (second) failed and was rolled back: refused: A2"
    )
    assert db.executed == ["A1"] and set(db.records) == {A1.key}
    db.failing.clear()
    assert await run(db.session(), [A1, A2, B1]) == [A2, B1]


async def test_failing_grants_are_reported_and_keep_the_steps() -> None:
    db = MemoryDatabase(failing={"GRANT"})
    with pytest.raises(MigrationFailed, match="migration grants failed"):
        await run(db.session(), [A1], always=["GRANT"])
    assert set(db.records) == {A1.key}


def test_a_step_contributed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="a 1 is contributed twice"):
        ordered([A1, Step("a", 1, "again", "X")])


async def test_pending_lists_what_a_run_would_apply() -> None:
    db = MemoryDatabase()
    await run(db.session(), [A1])
    assert await pending(db.session(), [A1, A2, B1]) == [A2, B1]
