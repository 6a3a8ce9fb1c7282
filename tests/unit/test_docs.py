"""The code cites the repository's own documents (docs/), and the sections it cites exist."""

from __future__ import annotations

import re
from pathlib import Path

from annals.stack.settings import REPO_ROOT

SOURCES = ("libs", "services", "deploy", "bench", "README.md")


def _texts() -> list[tuple[Path, str]]:
    files: list[Path] = []
    for name in SOURCES:
        root = REPO_ROOT / name
        files += [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    kept = [p for p in files if p.suffix in {".py", ".md", ".sh", ".json", ".jinja", ""}]
    return [(p, p.read_text(errors="ignore")) for p in kept if "node_modules" not in p.parts]


def test_nothing_cites_a_design_file_outside_the_repository() -> None:
    # docs/ has named sections, so a numbered one ("§7") can only be DESIGN.md's.
    numbered = re.compile(r"DESIGN(\.md)?\s*§|§\s*\d")
    citing = [str(p.relative_to(REPO_ROOT)) for p, text in _texts() if numbered.search(text)]
    assert citing == []


def test_every_cited_rules_section_exists() -> None:
    rules = (REPO_ROOT / "docs" / "rules.md").read_text()
    sections = {h.strip().lower() for h in re.findall(r"^## (.+)$", rules, re.M)}
    cited = {m for _, text in _texts() for m in re.findall(r"rules\.md#([a-z-]+)", text)}
    assert cited and cited <= sections, cited - sections
