"""Reactors (process managers): follow other services' topics, issue commands of their own.

A `Reactor` is pure: for an event type, a function from the typed event to the `Reaction`s
(commands on aggregates) it calls for. A `ReactorRunner` runs those commands through the
service's handler, each in a unit of work that first records its causation (the event's id)
through the `Causations` port: a redelivered event finds it recorded and issues no command.
"""

from annals.reactors.causations import Causations, MemoryCausations, PostgresCausations
from annals.reactors.reactor import Reaction, Reactor
from annals.reactors.runner import ReactorRunner, RunOutcome

__all__ = [
    "Causations",
    "MemoryCausations",
    "PostgresCausations",
    "Reaction",
    "Reactor",
    "ReactorRunner",
    "RunOutcome",
]
