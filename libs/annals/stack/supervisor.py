"""The platform's local processes run under supervisord, which restarts a crashed one (issue 11).

One supervisord per stack directory, reached over a unix socket under .stack/run (mode 0700) with
a random password kept in .stack/run (mode 0600) and never printed. Each `annals ... up` writes one
program file into .stack/run/supervisor/ and asks supervisord to add it; `down` removes it, and
supervisord shuts down once no program is left. A process that exits unexpectedly is started
again at once; one that dies before `startsecs` is retried with supervisord's growing back-off
(1 s, 2 s, ... up to `STARTRETRIES` tries, then FATAL). An event listener
(annals.stack.supervisor_events) counts the restarts into restarts.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

STARTRETRIES = 60  # back-off grows by 1 s per failed start: about 30 min of tries, then FATAL
LISTENER = "annals-restarts"
PASSED_ENV = re.compile(
    r"^(ANNALS_\w+|PATH|HOME|USER|LANG|LC_\w+|TZ|TMPDIR|PYTHONPATH|VIRTUAL_ENV|JAVA_HOME)$"
)
ALIVE = frozenset({"STARTING", "RUNNING"})
QUOTES = frozenset("'\"")


@dataclass(frozen=True)
class Program:
    """One supervised program: `processes` copies of `command`, logs into `log`."""

    name: str
    command: Sequence[str]
    directory: Path
    log: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    processes: int = 1
    socket: str | None = None  # tcp://host:port held by supervisord, fd 0 of each process
    startsecs: int = 5
    stopwaitsecs: int = 15


@dataclass(frozen=True)
class Paths:
    """Where supervisord's files live for one stack directory."""

    run: Path
    logs: Path

    @classmethod
    def of(cls, stack: StackSettings) -> Paths:
        """The paths under stack's .stack/ directory."""
        return cls(stack.run_dir, stack.logs_dir)

    @property
    def conf(self) -> Path:
        """The rendered supervisord.conf."""
        return self.run / "supervisord.conf"

    @property
    def socket(self) -> Path:
        """supervisord's unix socket (XML-RPC and supervisorctl)."""
        return self.run / "supervisord.sock"

    @property
    def pidfile(self) -> Path:
        """supervisord's pid file."""
        return self.run / "supervisord.pid"

    @property
    def secret(self) -> Path:
        """The random local password of the socket."""
        return self.run / "supervisord.secret"

    @property
    def programs(self) -> Path:
        """One file per added program."""
        return self.run / "supervisor"

    @property
    def restarts(self) -> Path:
        """Restart counts written by the event listener."""
        return self.run / "restarts.json"


def quote_value(value: str) -> str:
    """A config value with supervisord's %-expansion escaped."""
    return value.replace("%", "%%")


def render_environment(env: Mapping[str, str]) -> str:
    """KEY="value",... as supervisord parses it; values it would mangle are refused."""
    pairs = []
    for key, value in sorted(env.items()):
        if not re.fullmatch(r"[A-Za-z_]\w*", key) or "\n" in value:
            raise ValueError(f"environment variable {key!r} cannot be passed to supervisord")
        quote = '"' if '"' not in value else "'"
        if quote in value or value[:1] in QUOTES or value[-1:] in QUOTES:
            raise ValueError(f"environment variable {key}: supervisord would mangle its quotes")
        pairs.append(f"{key}={quote}{quote_value(value)}{quote}")
    return ",".join(pairs)


def render_program(program: Program) -> str:
    """The [program:x] (or [fcgi-program:x] when supervisord holds a socket) section."""
    kind = "fcgi-program" if program.socket else "program"
    lines = [
        f"[{kind}:{program.name}]",
        f"command={quote_value(shlex.join(program.command))}",
        f"directory={quote_value(str(program.directory))}",
        f"numprocs={program.processes}",
        "numprocs_start=1",
        "process_name=%(program_name)s" + ("-%(process_num)d" if program.processes > 1 else ""),
        "autostart=true",
        "autorestart=true",
        f"startsecs={program.startsecs}",
        f"startretries={STARTRETRIES}",
        "stopsignal=TERM",
        f"stopwaitsecs={program.stopwaitsecs}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={quote_value(str(program.log))}",
        "stdout_logfile_maxbytes=0",  # processes of one program share the file: no rotation
    ]
    if program.socket:
        lines.append(f"socket={program.socket}")
    if program.environment:
        lines.append(f"environment={render_environment(program.environment)}")
    return "\n".join(lines) + "\n"


def render_main(paths: Paths, password: str, python: str, repo: Path) -> str:
    """supervisord.conf: socket, rpc interface, the restart listener and the programs' include."""
    sock, run = quote_value(str(paths.socket)), quote_value(str(paths.run))
    listener = shlex.join([python, "-m", "annals.stack.supervisor_events", str(paths.restarts)])
    return f"""[unix_http_server]
file={sock}
chmod=0700
username=annals
password={quote_value(password)}

[supervisord]
logfile={quote_value(str(paths.logs / "supervisord.log"))}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={quote_value(str(paths.pidfile))}
childlogdir={quote_value(str(paths.logs))}
directory={quote_value(str(repo))}
nodaemon=false
minfds=1024

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}
username=annals
password={quote_value(password)}

[eventlistener:{LISTENER}]
command={quote_value(listener)}
directory={quote_value(str(repo))}
events=PROCESS_STATE_STARTING,PROCESS_STATE_EXITED
autorestart=true
stdout_logfile=NONE
stderr_logfile={quote_value(str(paths.logs / (LISTENER + ".log")))}

[include]
files={run}/supervisor/*.conf
"""


def passed_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's variables a supervised process needs (settings, PATH, locale), nothing else."""
    return {k: v for k, v in env.items() if PASSED_ENV.match(k)}


@dataclass(frozen=True)
class ProcessStatus:
    """One supervised process as `annals platform status` shows it."""

    program: str
    name: str
    state: str
    pid: int | None
    uptime: float | None
    restarts: int
    description: str

    @property
    def alive(self) -> bool:
        """Started or running."""
        return self.state in ALIVE


class Supervisor:
    """supervisord of one stack directory, driven over its XML-RPC interface."""

    def __init__(self, stack: StackSettings) -> None:
        self.stack = stack
        self.paths = Paths.of(stack)

    def _proxy(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        password = self.paths.secret.read_text().strip()
        transport = SupervisorTransport("annals", password, f"unix://{self.paths.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        """Whether supervisord answers on its socket."""
        if not (self.paths.socket.exists() and self.paths.secret.exists()):
            return False
        try:
            return self._proxy().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.run.mkdir(parents=True, exist_ok=True)
        with open(self.paths.run / "supervisord.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def ensure(self, wait: float = 15.0) -> None:
        """Start supervisord unless it runs; StackError when it does not come up."""
        if len(str(self.paths.socket)) > 100:  # AF_UNIX paths are at most 107 bytes
            raise StackError(
                "supervisord",
                f"socket path {self.paths.socket} is too long",
                "shorten ANNALS_STACK_DIR",
            )
        with self._locked():
            if self.running():
                return
            self._render()
            env = {**passed_environment(os.environ), "PYTHONUNBUFFERED": "1"}
            args = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.paths.conf)]
            subprocess.run(args, cwd=self.stack.repo, env=env, check=False, timeout=wait)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.running():
                    return
                time.sleep(0.1)
        log = self.paths.logs / "supervisord.log"
        raise StackError("supervisord", "did not start", f"see {log}")

    def _render(self) -> None:
        paths = self.paths
        paths.logs.mkdir(parents=True, exist_ok=True)
        for stale in paths.programs.glob("*.conf"):  # nothing runs: start from no programs
            stale.unlink()
        paths.programs.mkdir(parents=True, exist_ok=True)
        paths.socket.unlink(missing_ok=True)
        paths.restarts.unlink(missing_ok=True)
        if not paths.secret.exists():
            _write_private(paths.secret, secrets.token_urlsafe(24) + "\n")
        password = paths.secret.read_text().strip()
        _write_private(paths.conf, render_main(paths, password, sys.executable, self.stack.repo))

    def add(self, program: Program) -> None:
        """Add (or replace a stopped) program; supervisord starts its processes."""
        self.ensure()
        _write_private(self.paths.programs / f"{program.name}.conf", render_program(program))
        proxy = self._proxy()
        [[added, changed, _removed]] = proxy.reloadConfig()
        if program.name in changed:
            self._drop(proxy, program.name)
        if program.name in added or program.name in changed:
            proxy.addProcessGroup(program.name)
        else:
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.startProcessGroup(program.name, False)

    def remove(self, name: str) -> bool:
        """Stop and forget program `name` (supervisord ends with the last); True if it ran."""
        (self.paths.programs / f"{name}.conf").unlink(missing_ok=True)
        if not self.running():
            return False
        proxy = self._proxy()
        alive = any(p.alive for p in self.status() if p.program == name)
        self._drop(proxy, name)
        if not any(p.program != LISTENER for p in self.status()):
            self.shutdown()
        return alive

    @staticmethod
    def _drop(proxy: Any, name: str) -> None:
        with contextlib.suppress(xmlrpc.client.Fault):
            proxy.stopProcessGroup(name, True)
        with contextlib.suppress(xmlrpc.client.Fault):
            proxy.removeProcessGroup(name)

    def shutdown(self, wait: float = 30.0) -> bool:
        """Stop every program and supervisord itself; True when it was running."""
        if not self.running():
            return False
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            self._proxy().shutdown()
        deadline = time.monotonic() + wait
        while self.paths.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for stale in self.paths.programs.glob("*.conf"):
            stale.unlink()
        return True

    def status(self, program: str | None = None) -> list[ProcessStatus]:
        """Each supervised process (of `program`, else all) with state, pid, uptime, restarts."""
        if not self.running():
            return []
        infos = self._proxy().getAllProcessInfo()
        counts = restart_counts(self.paths.restarts)
        rows = [to_status(info, counts) for info in infos]
        return [r for r in rows if program is None or r.program == program]

    def pids(self, program: str) -> list[int]:
        """Pids of program's processes that are alive."""
        return [p.pid for p in self.status(program) if p.alive and p.pid]

    def spawned(self, program: str, wait: float = 5.0) -> int:
        """The pid of program's first process once supervisord spawned it (0 if it did not)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = self.pids(program)
            if pids:
                return pids[0]
            time.sleep(0.1)
        return 0


def to_status(info: Mapping[str, Any], counts: Mapping[str, int]) -> ProcessStatus:
    """A ProcessStatus from one getProcessInfo record and the listener's restart counts."""
    key = f"{info['group']}:{info['name']}"
    state = str(info["statename"])
    running = state == "RUNNING" and info["start"]
    return ProcessStatus(
        program=str(info["group"]),
        name=str(info["name"]),
        state=state,
        pid=int(info["pid"]) or None,
        uptime=float(info["now"] - info["start"]) if running else None,
        restarts=int(counts.get(key, 0)),
        description=str(info.get("description", "")),
    )


def restart_counts(path: Path) -> dict[str, int]:
    """group:process -> restarts, as the event listener last wrote them ({} when none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v.get("restarts", 0)) for k, v in data.items() if isinstance(v, dict)}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)
