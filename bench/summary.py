"""bench/summary: one table of every figure in bench/results/*.json, with ratio, goal and verdict.

`make bench` prints it after the benchmarks; `python -m bench.summary --markdown` prints the
same table as Markdown for the README.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import RESULTS_DIR, goal_met, row_cells

COLUMNS = ("benchmark", "figure", "value", "unit", "baseline", "ratio", "goal", "met")


def rows(folder: Path = RESULTS_DIR) -> Iterator[list[str]]:
    """The cells of every figure of every results file, benchmark by benchmark."""
    for path in sorted(folder.glob("*.json")):
        report = json.loads(path.read_text())
        for r in report["results"]:
            cells = row_cells(
                r["name"], r["value"], r["unit"], r.get("baseline"), r.get("ratio"),
                r.get("goal"), goal_met(r.get("goal"), r["value"], r.get("ratio")),
            )  # fmt: skip
            yield [report["benchmark"], *cells]


def markdown(found: list[list[str]]) -> str:
    """The table in Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in found]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Print the summary (a rich table, or Markdown with --markdown)."""
    found = list(rows())
    if "--markdown" in argv:
        print(markdown(found))
        return
    table = Table(title="make bench: every figure")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in COLUMNS[:2] else "right")
    for cells in found:
        table.add_row(*cells)
    Console(width=max(140, Console().width)).print(table)
    missed = sum(1 for cells in found if cells[-1] == "NO")
    print(f"{len(found)} figures, {missed} goals missed")


if __name__ == "__main__":
    main(sys.argv[1:])
