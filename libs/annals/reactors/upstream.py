"""What a reactor needs of the services it follows, from their declarations (no imports of them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from annals.commands.executor import Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.registry import EventRegistry
from annals.reactors.runner import Handle
from annals.topology import topology
from annals.topology.declarations import resolve

ServiceHandler = Callable[[Any, Target, UnitOfWork | None, Any], Awaitable[Outcome[Any]]]


def declared_registries(*services: str) -> dict[str, EventRegistry]:
    """The event registries of declared services, from the models their declarations name."""
    declared = {name: topology().service(name).events for name in services}
    return {name: EventRegistry(resolve(ref)) for name, ref in declared.items() if ref}


def with_deps(handle: ServiceHandler, deps: Any) -> Handle:
    """A service's `(command, target, uow, deps)` handler as the runner calls it."""

    async def run(command: Any, target: Target, uow: UnitOfWork | None) -> Outcome[Any]:
        return await handle(command, target, uow, deps)

    return run
