"""Running a reactor's commands once per event: causation = the event's id."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from annals.commands.errors import DomainError
from annals.commands.executor import Outcome, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import Database
from annals.reactors.causations import Causations
from annals.reactors.reactor import Reactor

log = logging.getLogger(__name__)
Handle = Callable[[Any, Target, UnitOfWork | None], Awaitable[Outcome[Any]]]


@dataclass
class RunOutcome:
    """What one event made the reactor do."""

    ran: list[Outcome[Any]] = field(default_factory=list)
    skipped: int = 0  # already answered (a redelivery)
    refused: list[DomainError] = field(default_factory=list)  # the aggregate said no


class ReactorRunner:
    """Runs a reactor's reactions through its service's handler, each in a unit of work."""

    def __init__(
        self, reactor: Reactor, handle: Handle, database: Database, causations: Causations
    ) -> None:
        self.reactor = reactor
        self.handle = handle
        self.database = database
        self.causations = causations

    async def on_event(
        self,
        event_id: str,
        event_type: str,
        event: DomainEvent | None,
        correlation_id: str | None = None,
    ) -> RunOutcome:
        """Issue the commands the event calls for, unless it was answered before.

        The causation row and the command's events commit together; a command the aggregate
        refuses (a DomainError) is logged and stays answered, so a redelivery does not retry
        it. Any other error rolls back both and propagates (the subscriber retries).
        """
        result = RunOutcome()
        reactions = self.reactor.react(event_type, event)
        for i, reaction in enumerate(reactions):
            causation = event_id if len(reactions) == 1 else f"{event_id}/{i}"
            metadata = {
                "causation_id": event_id,
                "correlation_id": correlation_id or event_id,
                "actor": self.reactor.actor,
                "command": type(reaction.command).__name__,
            }
            target = Target(reaction.aggregate_id, None, metadata)
            async with self.database.transaction() as uow:
                if not await self.causations.first(uow, self.reactor.name, causation):
                    result.skipped += 1
                    continue
                try:
                    async with uow.savepoint():
                        result.ran.append(await self.handle(reaction.command, target, uow))
                except DomainError as refused:
                    log.warning("%s: %s refused: %s", self.reactor.name, causation, refused)
                    result.refused.append(refused)
        return result
