"""Shared pieces of the benchmarks: result records, the JSON report and the printed table."""

from __future__ import annotations

import json
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

    def as_json(self) -> dict[str, object]:
        """The record of bench/results/<name>.json."""
        record: dict[str, object] = asdict(self)
        record["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        return record


def write_results(benchmark: str, results: Sequence[Result]) -> Path:
    """Write bench/results/<benchmark>.json and print the table; return the file's path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}.json"
    payload = {"benchmark": benchmark, "results": [r.as_json() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    table = Table(title=f"bench/{benchmark}")
    for column in ("name", "value", "unit", "baseline", "ratio", "goal"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for r in results:
        table.add_row(
            r.name,
            _fmt(r.value),
            r.unit,
            _fmt(r.baseline),
            _fmt(r.ratio),
            "" if r.goal is None else str(r.goal),
        )
    Console(width=max(120, Console().width)).print(table)
    return path


def percentile(samples: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) of samples, by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    index = min(len(cuts) - 1, max(0, round(pct * 10) - 1))
    return cuts[index]


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
