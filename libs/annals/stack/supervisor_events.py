"""supervisord event listener: counts each process's restarts into a JSON file (issue 11).

supervisord reports a process entering STARTING together with the state it left: EXITED (it
crashed or ended and autorestart brings it back) or BACKOFF (a failed start is retried) count as
restarts; STOPPED or FATAL (an operator's start) reset the count. The file maps
"group:process" to {"restarts": n, "last_exit": ...} and is replaced atomically, so
`annals platform status` can read it at any time. Protocol: supervisor's eventlistener docs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

RESTARTED_FROM = frozenset({"EXITED", "BACKOFF"})


def parse_tokens(line: str) -> dict[str, str]:
    """'a:1 b:2' -> {'a': '1', 'b': '2'} (headers and payload heads alike)."""
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def apply(counts: dict[str, Any], event: str, payload: dict[str, str]) -> bool:
    """Update counts for one event; True when they changed."""
    key = f"{payload.get('groupname', '')}:{payload.get('processname', '')}"
    entry = counts.setdefault(key, {"restarts": 0, "last_exit": None})
    if event == "PROCESS_STATE_STARTING":
        if payload.get("from_state") in RESTARTED_FROM:
            entry["restarts"] += 1
        else:
            entry["restarts"] = 0
        return True
    if event == "PROCESS_STATE_EXITED":
        entry["last_exit"] = {
            "expected": payload.get("expected") == "1",
            "pid": int(payload.get("pid", "0") or 0),
            "at": time.time(),
        }
        return True
    return False


def load(path: Path) -> dict[str, Any]:
    """The counts written before (a restarted listener goes on counting)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, counts: dict[str, Any]) -> None:
    """Write counts atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(counts, sort_keys=True))
    os.replace(tmp, path)


def serve(path: Path, stdin: IO[str], stdout: IO[str]) -> None:
    """Answer supervisord's events until stdin closes."""
    counts = load(path)
    while True:
        stdout.write("READY\n")
        stdout.flush()
        header = stdin.readline()
        if not header:
            return
        fields = parse_tokens(header)
        body = stdin.read(int(fields.get("len", "0")))
        head = body.split("\n", 1)[0]
        if apply(counts, fields.get("eventname", ""), parse_tokens(head)):
            save(path, counts)
        stdout.write("RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.stdin, sys.stdout)
