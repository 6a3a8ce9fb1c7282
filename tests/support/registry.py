"""A registry on the memory store served over HTTP on a free loopback port (uvicorn thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import uvicorn

from annals.registry.app import create_app
from annals.registry.memory import MemoryStore
from annals.registry.settings import RegistrySettings
from annals.web.auth import mint_token


@dataclass(frozen=True)
class Served:
    """The registry's base URL and tokens of its settings' secret."""

    url: str
    settings: RegistrySettings

    def token(self, *scopes: str) -> str:
        return mint_token(self.settings, list(scopes), audience="registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_registry() -> Iterator[Served]:
    """A registry (memory store, development mode) until the block ends."""
    settings = RegistrySettings(storage="memory", dev_mode=True)
    port = _free_port()
    config = uvicorn.Config(create_app(settings, MemoryStore()), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A registry for the tests of one module."""
    with serve_registry() as registry:
        yield registry
