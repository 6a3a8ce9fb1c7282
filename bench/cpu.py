"""CPU time of process trees from /proc: what share of a core each platform process used."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree_seconds(roots: Mapping[str, int], skip: Iterable[int] = ()) -> dict[str, float]:
    """CPU seconds used so far by each named root process and its descendants (a root that
    descends from another, like the servers the benchmark started, counts only for itself;
    the subtrees of `skip`, like the profilers the benchmark started, count for no one)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    others = set(roots.values()) | set(skip)
    return {name: _sum(root, stats, children, others - {root}) for name, root in roots.items()}


def _sum(
    root: int, stats: dict[int, tuple[int, float]], children: dict[int, list[int]], stop: set[int]
) -> float:
    """A tree's CPU seconds, leaving out the subtrees of the other roots (measured apart)."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(child for child in children.get(pid, ()) if child not in stop)
    return total


def shares(
    before: Mapping[str, float], after: Mapping[str, float], wall: float
) -> dict[str, float]:
    """Cores used by each tree between two readings (1.0 = one core busy all the time)."""
    return {name: (after[name] - before.get(name, 0.0)) / wall for name in after}


def pid_of(path: Path) -> int | None:
    """The pid in the first line of a pid file, if it names a live process."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def named(pairs: Iterable[tuple[str, int | None]]) -> dict[str, int]:
    """The pairs whose pid is known."""
    return {name: pid for name, pid in pairs if pid is not None}
