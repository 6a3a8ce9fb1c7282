"""What domain code builds on: events, the personal-data marker, the aggregate base.

Only stdlib and pydantic are imported here, so domain modules may depend on this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

REDACTED = "<forgotten>"


@dataclass(frozen=True, slots=True)
class Personal:
    """Marks a field as personal data: `email: Annotated[str, Personal()]`.

    The field is encrypted with the subject's key at append and read back as `redacted`
    once the subject is forgotten; choose `Personal(redacted=None)` for optional fields.
    """

    redacted: Any = REDACTED


PERSONAL = Personal()


class DomainEvent(BaseModel):
    """Base of domain events: frozen pydantic models named in the past tense.

    Class variables: `event_type` (defaults to the class name), `schema_version` (bump it and
    register an upcaster when the shape changes) and `subject_field` (the field naming the data
    subject of personal fields; the stream id when None).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    subject_field: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("event_type"):
            cls.event_type = cls.__name__

    @classmethod
    def personal_fields(cls) -> dict[str, Personal]:
        """Fields marked Personal, with their markers."""
        found: dict[str, Personal] = {}
        for name, info in cls.model_fields.items():
            for meta in info.metadata:
                if isinstance(meta, Personal):
                    found[name] = meta
        return found


E = TypeVar("E", bound=DomainEvent)
S = TypeVar("S")


class Aggregate(Generic[S]):
    """A small decide/evolve base: the state is rebuilt by `evolve`, commands `decide` events.

    Subclasses set `stream_type`, implement `initial_state()` and `evolve(state, event)`, and
    may opt into snapshots with `snapshot_every = N` (the state must then be a pydantic model
    and `state_schema_version` is bumped whenever its shape changes).
    """

    stream_type: ClassVar[str] = ""
    snapshot_every: ClassVar[int | None] = None
    state_schema_version: ClassVar[int] = 1
    state_type: ClassVar[type[BaseModel] | None] = None

    def __init__(self, stream_id: str, state: S | None = None, version: int = 0) -> None:
        self.stream_id = stream_id
        self.state: S = self.initial_state() if state is None else state
        self.version = version
        self.pending: list[DomainEvent] = []

    @classmethod
    def initial_state(cls) -> S:
        """The state of a stream without events."""
        raise NotImplementedError

    @classmethod
    def evolve(cls, state: S, event: DomainEvent) -> S:
        """The state after one event (pure)."""
        raise NotImplementedError

    @classmethod
    def replay(cls, state: S, events: Iterable[DomainEvent]) -> S:
        """Fold events into a state."""
        for event in events:
            state = cls.evolve(state, event)
        return state

    @property
    def expected_version(self) -> int:
        """The version the stream had when loaded (what saving expects)."""
        return self.version

    def execute(self, decide: Callable[[S], Sequence[DomainEvent]]) -> list[DomainEvent]:
        """Run a decision on the current state and record the events it returns."""
        events = list(decide(self.state))
        self.record(*events)
        return events

    def record(self, *events: DomainEvent) -> None:
        """Evolve the state with new events and keep them until saved."""
        for event in events:
            self.state = self.evolve(self.state, event)
            self.pending.append(event)

    def mark_saved(self, version: int) -> None:
        """Forget the pending events once stored at `version`."""
        self.pending.clear()
        self.version = version
