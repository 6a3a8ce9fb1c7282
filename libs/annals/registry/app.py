"""The registry's composition root: settings, storage, verifier, routes, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from annals.registry.api import mount
from annals.registry.memory import MemoryStore
from annals.registry.ports import RegistryStore
from annals.registry.service import Registry
from annals.registry.settings import RegistrySettings
from annals.web.auth import TokenVerifier
from annals.web.health import install_metrics


def create_app(
    settings: RegistrySettings | None = None, store: RegistryStore | None = None
) -> FastAPI:
    """The registry's app over `store` (default: the settings' storage, opened at start)."""
    settings = settings or RegistrySettings()
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None or settings.storage == "memory":
            yield
            return
        from annals.registry.postgres import PostgresStore

        opened = await PostgresStore.open(settings)
        holder["registry"].store = opened
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(title="Annals schema registry", lifespan=lifespan, docs_url=None, redoc_url=None)
    registry = Registry(store or MemoryStore())
    holder["registry"] = registry
    mount(app, registry, TokenVerifier(settings))
    install_metrics(app, settings)
    return app
