"""Session-wide fixtures: one real stack (PostgreSQL, Kafka, Connect) shared by every test.

Which stack: ANNALS_STACK=external reuses a running one at the ANNALS_STACK_* addresses;
otherwise the native stack is started (and stopped at the end if this session started it);
ANNALS_STACK=testcontainers uses containers when a Docker engine answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from annals.stack import stack as native
from annals.stack.errors import StackError
from annals.stack.settings import StackSettings

# Tests run the services in explicit development mode (the documented secret, loopback only).
os.environ.setdefault("ANNALS_DEV_MODE", "1")
# Tests' topics and groups carry a namespace of their own (t<id>.orders.events, t<id>.projector.*),
# which the components' ACLs do not cover: their clients log in as the stack's admin. The ACLs
# themselves are tested on a private broker (tests/integration/stack/test_kafka_auth.py), and
# `annals` commands on a private stack log in as their components (tests/integration/stack).
os.environ.setdefault("ANNALS_KAFKA_PRINCIPAL", "admin")


def _all_healthy(settings: StackSettings) -> bool:
    return all(component.healthy for component in native.status(settings))


def _not_running(settings: StackSettings) -> list[str]:
    return [c.name for c in native.status(settings) if not c.healthy and c.pid is None]


@pytest.fixture(scope="session")
def stack() -> Iterator[StackSettings]:
    """A running stack; its settings give DSNs, the Kafka bootstrap and the Connect URL."""
    mode = os.environ.get("ANNALS_STACK", "native")
    if mode == "testcontainers":
        from tests.support.containers import container_stack

        with container_stack() as settings:
            yield settings
        return
    settings = StackSettings()
    if mode == "external":
        if not _all_healthy(settings):
            pytest.exit("ANNALS_STACK=external but the stack is not healthy", returncode=3)
        yield settings
        return
    # Only what this session starts is stopped at its end: a stack (or a part of it) that was
    # already running is left as it was.
    started_here = _not_running(settings)
    if not _all_healthy(settings):
        try:
            native.up(settings)
        except StackError as error:
            from tests.support.containers import container_stack, docker_answers

            if not docker_answers():
                pytest.exit(f"the native stack did not start: {error.line()}", returncode=3)
            with container_stack() as container_settings:
                yield container_settings
            return
    yield settings
    if started_here and not os.environ.get("ANNALS_KEEP_STACK"):
        native.down(settings, only=started_here)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for stream ids, topics and table names of one test."""
    return uuid.uuid4().hex[:12]
