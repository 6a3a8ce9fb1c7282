"""A broker running without authentication is restarted on SCRAM at the next `annals stack up`."""

from __future__ import annotations

from pathlib import Path

import pytest

from annals.stack import kafka, stack
from annals.stack.settings import StackSettings


@pytest.fixture
def running_plaintext(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackSettings:
    """A stack whose broker (a live pid) answers only without authentication."""
    monkeypatch.setattr(kafka, "read_pid", lambda _: 4242)
    monkeypatch.setattr(kafka, "healthy", lambda s: s.kafka_auth == "none")
    return StackSettings(dir=tmp_path)


def test_scram_is_the_default() -> None:
    assert StackSettings.model_fields["kafka_auth"].default == "scram"


def test_a_plaintext_broker_is_seen_as_changed(running_plaintext: StackSettings) -> None:
    assert kafka.running_auth(running_plaintext) == "none"
    assert kafka.listeners_changed(running_plaintext)
    opted_out = running_plaintext.model_copy(update={"kafka_auth": "none"})
    assert not kafka.listeners_changed(opted_out)


def test_stack_up_restarts_kafka_and_connect_and_says_so(
    running_plaintext: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    done: list[str] = []
    monkeypatch.setattr(stack.connect, "stop", lambda _: done.append("connect stopped"))
    monkeypatch.setattr(stack.kafka, "stop", lambda _: done.append("kafka stopped"))
    monkeypatch.setattr(stack.kafka, "start", lambda _: done.append("kafka started"))
    lines: list[str] = []
    stack._kafka_up(running_plaintext, lines.append)
    assert done == ["connect stopped", "kafka stopped", "kafka started"]
    assert "restarting it and Connect" in lines[0]


def test_a_broker_that_does_not_answer_yet_is_left_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka, "read_pid", lambda _: 4242)
    monkeypatch.setattr(kafka, "healthy", lambda _: False)
    assert not kafka.listeners_changed(StackSettings(dir=tmp_path))
