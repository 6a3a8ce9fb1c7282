"""Only annals.eventstore holds SQL on the event store's tables (issue 14: one owner per table)."""

from __future__ import annotations

import re

from annals.stack.settings import REPO_ROOT

LIBRARY = REPO_ROOT / "libs" / "annals"
SQL_ON_EVENTSTORE = re.compile(r"\b(FROM|INTO|JOIN|ON|TABLE|UPDATE)\s+eventstore\.\w+")


def test_no_module_outside_the_event_store_writes_sql_on_its_tables() -> None:
    owners = {LIBRARY / "eventstore"}
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(0)}"
        for path in sorted(LIBRARY.rglob("*.py"))
        if not any(owner in path.parents for owner in owners)
        for match in SQL_ON_EVENTSTORE.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_pattern_finds_such_sql() -> None:
    assert SQL_ON_EVENTSTORE.search("GRANT SELECT ON eventstore.events TO x")
    assert not SQL_ON_EVENTSTORE.search("# SELECT on eventstore.subject_keys, nothing else")
