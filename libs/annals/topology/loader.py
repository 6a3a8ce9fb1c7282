"""The platform as the set of its declarations, read from Python entry points.

A package declares a service in `[project.entry-points."annals.services"]`, a CDC source in
`"annals.sources"` and a projection in `"annals.projections"`; each entry point names its
declaration (`orders = "orders.declaration:SERVICE"`). A declaration that does not import,
is of the wrong type, is named differently from its entry point or claims what another already
claims (a name, topic, stream type or database) is a `TopologyError` saying which and why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from annals.topology.declarations import Service, Source

if TYPE_CHECKING:
    from annals.projections.projection import Projection

SERVICES, SOURCES, PROJECTIONS = "annals.services", "annals.sources", "annals.projections"
COMMANDS = "annals.cli"


class TopologyError(Exception):
    """A declaration is missing, broken or claims what another one declares."""


def _import(entry: EntryPoint) -> Any:
    try:
        return entry.load()
    except Exception as exc:
        raise TopologyError(
            f"{entry.group} entry point {entry.name} = {entry.value!r} does not load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _load(entry: EntryPoint, kind: type) -> Any:
    declared = _import(entry)
    if not isinstance(declared, kind):
        raise TopologyError(
            f"{entry.group} entry point {entry.name} = {entry.value!r} is a "
            f"{type(declared).__name__}, not a {kind.__name__}"
        )
    name = getattr(declared, "name", None)
    if name != entry.name:
        raise TopologyError(
            f"{entry.group} entry point {entry.name} declares {name!r}: "
            "the entry point must carry the declaration's name"
        )
    return declared


def _unique(group: str, entries: Iterable[EntryPoint]) -> list[EntryPoint]:
    seen: dict[str, EntryPoint] = {}
    for entry in entries:
        other = seen.get(entry.name)
        if other is not None and other.value != entry.value:
            raise TopologyError(
                f"{group} {entry.name!r} is declared twice: {other.value!r} and {entry.value!r}"
            )
        seen[entry.name] = entry
    return list(seen.values())


def _claim(claims: dict[tuple[str, str], str], what: str, value: str, owner: str) -> None:
    holder = claims.setdefault((what, value), owner)
    if holder != owner:
        raise TopologyError(f"{owner} and {holder} both declare the {what} {value!r}")


def _check(services: Iterable[Service], sources: Iterable[Source]) -> None:
    claims: dict[tuple[str, str], str] = {}
    for service in services:
        _claim(claims, "name", service.name, f"service {service.name}")
        _claim(claims, "database", service.database, f"service {service.name}")
        if service.topic:
            _claim(claims, "topic", service.topic, f"service {service.name}")
        for kind in service.stream_types:
            _claim(claims, "stream type", kind, f"service {service.name}")
    for source in sources:
        _claim(claims, "name", source.name, f"source {source.name}")
        _claim(claims, "database", source.database, f"source {source.name}")
        _claim(claims, "topic prefix", source.prefix, f"source {source.name}")


@dataclass(frozen=True)
class Topology:
    """The declared services, CDC sources and (loaded on first use) projections."""

    services: Mapping[str, Service]
    sources: Mapping[str, Source] = field(default_factory=dict)
    projection_entries: tuple[EntryPoint, ...] = ()

    def __post_init__(self) -> None:
        _check(self.services.values(), self.sources.values())

    @classmethod
    def from_entry_points(cls) -> Topology:
        """The topology the installed packages declare."""
        return cls.from_entries([*entry_points(group=SERVICES), *entry_points(group=SOURCES),
                                 *entry_points(group=PROJECTIONS)])  # fmt: skip

    @classmethod
    def from_entries(cls, entries: Iterable[EntryPoint]) -> Topology:
        """The topology of these entry points (of the three groups)."""
        every = list(entries)
        services, sources, projections = (
            _unique(group, [e for e in every if e.group == group])
            for group in (SERVICES, SOURCES, PROJECTIONS)
        )
        return cls(
            {e.name: _load(e, Service) for e in services},
            {e.name: _load(e, Source) for e in sources},
            tuple(projections),
        )

    def service(self, name: str) -> Service:
        """The service called `name`; TopologyError naming the known ones otherwise."""
        try:
            return self.services[name]
        except KeyError:
            raise TopologyError(f"no service {name!r}; declared: {sorted(self.services)}") from None

    def of_kind(self, kind: str) -> list[Service]:
        """The command services or the query APIs."""
        return [s for s in self.services.values() if s.kind == kind]

    @property
    def producers(self) -> dict[str, str]:
        """Event topic -> the one service that produces it."""
        return {s.topic: s.name for s in self.services.values() if s.topic}

    @property
    def topic_of_stream_type(self) -> dict[str, str]:
        """Stream type (the stream id's kind) -> the topic its events are published to."""
        return {t: s.topic for s in self.services.values() for t in s.stream_types}

    @property
    def cdc_origins(self) -> dict[str, tuple[str, str]]:
        """Debezium topic prefix -> (connector, database) of each CDC source."""
        return {s.prefix: (s.connector, s.database) for s in self.sources.values()}

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope a declared service checks, once each."""
        return tuple(dict.fromkeys(sc for s in self.services.values() for sc in s.scopes))

    @property
    def key_holder(self) -> Service:
        """The service whose event store holds the subjects' keys (personal data)."""
        holders = [s for s in self.services.values() if s.subject_keys]
        if len(holders) != 1:
            raise TopologyError(f"one service must hold subject keys, not {len(holders)}")
        return holders[0]

    @property
    def read_model_databases(self) -> list[str]:
        """The databases projections may write (each gets its own projector role)."""
        return [s.database for s in self.services.values() if s.read_models]

    @functools.cached_property
    def projections(self) -> dict[str, Projection]:
        """Every declared projection by name (imports the projection modules)."""
        from annals.projections.projection import Projection

        found = [_load(e, Projection) for e in self.projection_entries]
        out = {p.name: p for p in found}
        for projection in found:
            if projection.database not in self.read_model_databases:
                raise TopologyError(
                    f"projection {projection.name} writes {projection.database!r}, which no "
                    f"service declares for read models ({self.read_model_databases})"
                )
            unknown = set(projection.topics) - set(self.producers) - self._cdc_topics(projection)
            if unknown:
                raise TopologyError(
                    f"projection {projection.name} reads {sorted(unknown)}, which no declared "
                    "service or CDC source produces"
                )
        return out

    def _cdc_topics(self, projection: Projection) -> set[str]:
        prefixes = tuple(f"{p}." for p in self.cdc_origins)
        return {t for t in projection.topics if prefixes and t.startswith(prefixes)}


@functools.cache
def topology() -> Topology:
    """The installed platform's topology (read once per process)."""
    return Topology.from_entry_points()


def command_plugins() -> list[Callable[[Any], None]]:
    """The `register(app)` functions packages add to the `annals` command (annals.cli)."""
    found = []
    for entry in _unique(COMMANDS, entry_points(group=COMMANDS)):
        register = _import(entry)
        if not callable(register):
            raise TopologyError(f"{COMMANDS} entry point {entry.name} is not a register(app)")
        found.append(register)
    return found
