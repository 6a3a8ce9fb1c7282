"""The garbage collector's settings of every Annals process (`ANNALS_GC_THRESHOLD`).

Why: readers and writers of events allocate a handful of container objects per event (the
stored record, the typed model, its envelope) and keep a page of them alive at once, so with
CPython's default thresholds (700, 10, 10) the cyclic collector runs every few hundred events
and its full passes walk every object the process holds. Profiles of `read_all` put a third of
its time there. Reference counting frees these objects; the cyclic collector is only for
cycles, which the hot paths do not make. So each process, once started up, freezes what start-up
allocated (modules, models, the app: never walked again) and collects young objects less often.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

VARIABLE = "ANNALS_GC_THRESHOLD"
THRESHOLDS = (20_000, 10, 10)
"""Young objects between collections of generation 0, then how many of each before the next."""
KEEP_DEFAULTS = "default"


class InvalidThreshold(ValueError):
    """ANNALS_GC_THRESHOLD is neither three positive integers nor `default`."""


def thresholds(value: str | None) -> tuple[int, int, int] | None:
    """The thresholds `value` asks for (None: keep CPython's); InvalidThreshold when malformed."""
    if value is None or not value.strip():
        return THRESHOLDS
    if value.strip() == KEEP_DEFAULTS:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InvalidThreshold(
            f"{VARIABLE}={value!r}: three positive integers such as "
            f"{','.join(map(str, THRESHOLDS))}, or {KEEP_DEFAULTS!r} for CPython's own"
        )
    first, second, third = (int(p) for p in parts)
    return first, second, third


def tune_collector(environ: dict[str, str] | None = None) -> tuple[int, int, int]:
    """Freeze start-up's objects and set the thresholds of ANNALS_GC_THRESHOLD; the ones in use.

    Call it from a process's composition root once its modules and app are built; calling it
    again later (say, after a lazy import) only freezes what was allocated since.
    """
    wanted = thresholds((os.environ if environ is None else environ).get(VARIABLE))
    if wanted is None:
        return gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*wanted)
    return wanted


# A replay (a rebuild, a repair) keeps a whole batch alive until it is written, tens of
# thousands of objects: it raises generation 0's threshold further while it runs.
REPLAY_GC_THRESHOLD = 50_000
_replays = 0
_saved_threshold: tuple[int, ...] = ()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's generation-0 threshold while (any) replay runs, then restore it."""
    global _replays, _saved_threshold
    if _replays == 0:
        _saved_threshold = gc.get_threshold()
        first, *older = _saved_threshold
        gc.set_threshold(max(first, REPLAY_GC_THRESHOLD), *older)
    _replays += 1
    try:
        yield
    finally:
        _replays -= 1
        if _replays == 0:
            gc.set_threshold(*_saved_threshold)


__all__ = [
    "REPLAY_GC_THRESHOLD",
    "THRESHOLDS",
    "InvalidThreshold",
    "fewer_collections",
    "thresholds",
    "tune_collector",
]
