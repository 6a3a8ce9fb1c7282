"""Bad set-ups fail with one clear line naming the cause and the way out, deleting nothing."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.stack.conftest import PRIVATE_PORTS, Cli

pytestmark = pytest.mark.stack


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error ")]


def test_port_taken_names_the_port_and_the_setting(private_dir: Path):
    marker = private_dir / "keep-me"
    marker.write_text("x")
    port = int(PRIVATE_PORTS["ANNALS_STACK_PG_PORT"])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        done = Cli(private_dir)("stack", "up", timeout=120)
    assert done.returncode == 1
    [line] = _error_lines(done.stdout)
    assert f"127.0.0.1:{port} is already taken" in line
    assert "ANNALS_STACK_PG_PORT" in line
    assert marker.read_text() == "x"


def test_no_java_says_how_to_get_one(private_dir: Path):
    done = Cli(private_dir, ANNALS_STACK_JAVA="/nonexistent/bin/java")("stack", "up")
    assert done.returncode == 1
    [line] = _error_lines(done.stdout)
    assert "no Java runtime found" in line
    assert "JAVA_HOME" in line


def test_failed_maven_resolution_names_the_log(private_dir: Path):
    cli = Cli(private_dir, ANNALS_STACK_KAFKA_VERSION="0.0.0-does-not-exist")
    done = cli("stack", "up")
    assert done.returncode == 1
    [line] = _error_lines(done.stdout)
    assert "maven (kafka): could not resolve" in line
    assert "Maven Central" in line
    assert (private_dir / "logs" / "maven-kafka.log").exists()
    assert not (private_dir / "jars" / "kafka").exists()


def test_broken_data_directory_is_reported_and_kept(private_dir: Path):
    pg = private_dir / "pg"
    pg.mkdir()
    (pg / "notes.txt").write_text("precious")
    done = Cli(private_dir)("stack", "up")
    assert done.returncode == 1
    [line] = _error_lines(done.stdout)
    assert "is not a usable PostgreSQL 15 data directory" in line
    assert "annals stack reset" in line
    assert (pg / "notes.txt").read_text() == "precious"
