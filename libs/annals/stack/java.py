"""Find a Java 17+ runtime for the broker and the Connect worker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

MIN_JAVA = 17


def find_java(settings: StackSettings, component: str) -> str:
    """The java executable to use: ANNALS_STACK_JAVA, else $JAVA_HOME/bin/java, else PATH."""
    candidate: str | None
    if settings.java:
        candidate = settings.java
    elif os.environ.get("JAVA_HOME"):
        candidate = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    else:
        candidate = shutil.which("java")
    if not candidate or not Path(candidate).is_file() or not os.access(candidate, os.X_OK):
        raise StackError(
            component,
            f"no Java runtime found (looked at {candidate or 'PATH'})",
            "run `make up` (installs openjdk-17-jre-headless) or set JAVA_HOME / ANNALS_STACK_JAVA",
        )
    major = java_major_version(candidate)
    if major is None or major < MIN_JAVA:
        raise StackError(
            component,
            f"{candidate} is Java {major or 'of unknown version'}, Kafka 4 needs {MIN_JAVA}+",
            "install OpenJDK 17 or newer and point JAVA_HOME at it",
        )
    return candidate


def java_major_version(java: str) -> int | None:
    """The major version `java -version` reports, or None when it cannot be read."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
