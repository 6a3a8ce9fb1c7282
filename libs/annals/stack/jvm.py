"""Start the JVM components (broker, Connect) from rendered configs and resolved jars."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from string import Template

from annals.stack import kafka_auth, kafka_nodes
from annals.stack.errors import StackError
from annals.stack.java import find_java
from annals.stack.procs import pid_alive, read_pid, spawn, tail
from annals.stack.settings import StackSettings


def render(settings: StackSettings, template: str, target: Path, **values: object) -> Path:
    """Fill deploy/local/config/<template> with ${...} values and write it to target (0600)."""
    text = (settings.deploy_dir / "config" / template).read_text()
    base = {
        "host": settings.host,
        "kafka_port": settings.kafka_port,
        "controller_port": settings.controller_port,
        "connect_port": settings.connect_port,
        "kafka_bootstrap": settings.kafka_bootstrap,
        "replication": kafka_nodes.replication(settings),
        "connect_kafka_security": kafka_auth.connect_block(settings),
        **kafka_auth.template_values(settings),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    # Rendered configs may hold the stack's Kafka passwords: only the owner reads them.
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)
    target.write_text(Template(text).substitute({**base, **values}))
    return target


def java_command(
    settings: StackSettings, component: str, jars: Path, heap: str, main: str, *args: str
) -> list[str]:
    """The java command line for `main` with the jars of one folder on the class path."""
    java = find_java(settings, component)
    if not any(jars.glob("*.jar")):
        raise StackError(component, f"no jars in {jars}", "run `annals stack up` to resolve them")
    return [
        java, *shlex.split(heap), "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", "-XX:+ExitOnOutOfMemoryError",
        f"-Dlog4j2.configurationFile={settings.deploy_dir / 'config' / 'log4j2.properties'}",
        f"-Dannals.log.file={settings.log(component)}",
        f"-Dannals.component={component}",
        "-cp", f"{jars}/*", main, *args,
    ]  # fmt: skip


def launch(settings: StackSettings, component: str, command: list[str]) -> int:
    """Spawn the component detached, its console output in <component>.out; return the pid."""
    console = settings.logs_dir / f"{component}.out"
    return spawn(command, console, settings.pid_file(component), settings.dir)


def wait_healthy(
    settings: StackSettings, component: str, check: Callable[[], bool], what: str
) -> None:
    """Wait until check() holds; fail naming the component and its log on exit or timeout."""
    deadline = time.monotonic() + settings.start_timeout
    pid_file = settings.pid_file(component)
    while time.monotonic() < deadline:
        if check():
            return
        pid = read_pid(pid_file)
        if pid is None or not pid_alive(pid):
            console = settings.logs_dir / f"{component}.out"
            last = (tail(console, 5) or tail(settings.log(component), 5)).replace("\n", " | ")
            raise StackError(
                component,
                f"exited while starting ({last[-400:] or 'no output'})",
                f"see {settings.log(component)} and {console}",
            )
        time.sleep(0.5)
    raise StackError(
        component,
        f"not healthy after {settings.start_timeout:.0f}s ({what})",
        f"see {settings.log(component)}",
    )
