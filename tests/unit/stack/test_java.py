"""Java detection: version parsing and the errors a person sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from annals.stack.errors import StackError
from annals.stack.java import find_java, java_major_version
from annals.stack.settings import StackSettings


def _fake_java(tmp_path: Path, banner: str) -> str:
    script = tmp_path / "java"
    script.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("banner", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_401"', 8),
        ("something else", None),
    ],
)
def test_major_version_is_read_from_the_banner(tmp_path: Path, banner: str, major: int | None):
    assert java_major_version(_fake_java(tmp_path, banner)) == major


def test_old_java_is_refused_with_the_version_found(tmp_path: Path):
    java = _fake_java(tmp_path, 'java version "1.8.0_401"')
    with pytest.raises(StackError) as caught:
        find_java(StackSettings(java=java), "kafka")
    assert "Java 8" in caught.value.cause
    assert "JAVA_HOME" in caught.value.hint


def test_missing_java_names_where_it_looked():
    with pytest.raises(StackError) as caught:
        find_java(StackSettings(java="/nonexistent/java"), "connect")
    assert caught.value.component == "connect"
    assert "/nonexistent/java" in caught.value.cause
