"""Shared pieces of the benchmarks: result records, the JSON report and the printed table.

A goal is a ratio to the figure's baseline (a float: ratio >= goal; the baseline is a
reference path measured in the same run, bench/reference_paths), or a bound on the value
itself for counts and latencies ("<= 250 ms", "0"), which do not depend on the machine's speed,
or an upper bound on the ratio ("ratio <= 2": a latency against its reference's).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Result:
    """One measured figure, with the baseline measured in the same run and the issue's goal."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    goal: float | str | None = None

    @property
    def ratio(self) -> float | None:
        """value / baseline, when there is a baseline."""
        if not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Whether the goal is met (None: no goal, or one that is not a bound)."""
        return goal_met(self.goal, self.value, self.ratio)

    def as_json(self) -> dict[str, object]:
        """The record of bench/results/<name>.json."""
        record: dict[str, object] = asdict(self)
        record["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        record["met"] = self.met
        return record


BOUND = re.compile(r"^\s*(<=|>=)?\s*([0-9][0-9,.]*)")


def goal_met(goal: float | str | None, value: float, ratio: float | None) -> bool | None:
    """A float goal is met by ratio >= goal; "<= N ..."/">= N ..."/"N" bound the value, and
    "ratio <= N" the ratio (a latency against its reference's)."""
    if goal is None:
        return None
    if not isinstance(goal, str):
        return None if ratio is None else ratio >= goal
    subject: float | None = value
    if goal.startswith("ratio"):
        goal, subject = goal.removeprefix("ratio"), ratio
    found = BOUND.match(goal)
    if found is None or subject is None:
        return None
    bound = float(found.group(2).replace(",", ""))
    op = found.group(1)
    return subject <= bound if op == "<=" else subject >= bound if op == ">=" else subject == bound


def goal_text(goal: float | str | None) -> str:
    """How a goal reads in a table: `>= 0.9 x baseline` for ratios."""
    if goal is None:
        return ""
    return goal if isinstance(goal, str) else f">= {goal:g} x"


def write_results(benchmark: str, results: Sequence[Result]) -> Path:
    """Write bench/results/<benchmark>.json and print the table; return the file's path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}.json"
    payload = {"benchmark": benchmark, "results": [r.as_json() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    table = Table(title=f"bench/{benchmark}")
    for column in ("name", "value", "unit", "baseline", "ratio", "goal", "met"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for r in results:
        table.add_row(*row_cells(r.name, r.value, r.unit, r.baseline, r.ratio, r.goal, r.met))
    Console(width=max(120, Console().width)).print(table)
    return path


def row_cells(
    name: str,
    value: float,
    unit: str,
    baseline: float | None,
    ratio: float | None,
    goal: float | str | None,
    met: bool | None,
) -> list[str]:
    """The printed cells of one figure."""
    verdict = "" if met is None else "yes" if met else "NO"
    return [name, fmt(value), unit, fmt(baseline), fmt(ratio), goal_text(goal), verdict]


def percentile(samples: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) of samples, by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    index = min(len(cuts) - 1, max(0, round(pct * 10) - 1))
    return cuts[index]


def fmt(value: float | None) -> str:
    """A figure as printed: three decimals below 10, thousands separators above."""
    if value is None:
        return ""
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
