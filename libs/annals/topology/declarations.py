"""What a service, a query API or a CDC source says about itself (frozen, validated at load).

Heavy parts (the app factory, settings class, event models, migration steps) are named as
`module:attribute` references and imported only when a launcher or tool needs them, so reading
the topology (as `annals stack up` does) imports no web framework and no service code.
"""

from __future__ import annotations

import pkgutil
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z][a-z0-9_-]{0,39}$"
# A `module:attribute` reference, imported on use (resolve).
Ref = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]


def resolve(ref: str) -> Any:
    """The object a `module:attribute` reference names."""
    return pkgutil.resolve_name(ref)


class _Declaration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Migration(_Declaration):
    """A table step of a service's own (`TableStep` reference, numbered 2-99) and the grant its
    role needs; the one migration runner applies it (component `api`, docs/migrations.md)."""

    step: Ref
    grant: Ref


class Service(_Declaration):
    """An HTTP service: a command side with its event store and topic, or a query API.

    Database, roles and topic default to the conventions `<name>`, `<name>_owner`,
    `<name>_app` and `<name>.events`.
    """

    name: str = Field(pattern=NAME)
    kind: Literal["command", "query"] = "command"
    app: Ref = Field(description="app factory, module:callable")
    settings: Ref = Field(description="its ServiceSettings subclass, module:class")
    scopes: tuple[str, ...] = Field(default=(), description="the token scopes it checks")
    stream_types: tuple[str, ...] = Field(default=(), description="kinds of its stream ids")
    events: Ref | None = Field(default=None, description="tuple of its event models")
    aggregates: dict[str, Ref] = Field(
        default_factory=dict,
        description="stream type -> its aggregate (a DeciderAggregate or Decider, module:attr);"
        " the console replays it for a stream's state as of a version",
    )
    topic: str = ""
    database: str = ""
    owner_role: str = ""
    app_role: str = ""
    connects: tuple[str, ...] = Field(default=(), description="other databases its role reads")
    migrations: tuple[Migration, ...] = ()
    subject_keys: bool = Field(default=False, description="its store holds the subjects' keys")
    read_models: bool = Field(
        default=False, description="projections write read models into its database"
    )

    @model_validator(mode="after")
    def _conventions(self) -> Service:
        command = self.kind == "command"
        if command and not (self.stream_types and self.events):
            raise ValueError(f"command service {self.name!r} needs stream_types and events")
        stray = sorted(set(self.aggregates) - set(self.stream_types))
        if stray:
            raise ValueError(f"service {self.name!r} declares aggregates of {stray}, not its "
                             f"stream types {list(self.stream_types)}")  # fmt: skip
        defaults = {
            "topic": f"{self.name}.events" if command else "",
            "database": self.name,
            "owner_role": f"{self.name}_owner",
            "app_role": f"{self.name}_app",
        }
        for field, default in defaults.items():
            if not getattr(self, field):
                object.__setattr__(self, field, default)
        return self


class Source(_Declaration):
    """A database captured by CDC: its connector, database, owner and topic prefix."""

    name: str = Field(pattern=NAME)
    connector: str = Field(description="the Debezium connector kind, e.g. postgresql")
    database: str
    owner_role: str
    prefix: str = Field(description="Debezium topic prefix: <prefix>.<schema>.<table>")
    cdc_role: str = "debezium"
    setup: Ref | None = Field(default=None, description="`platform up` step: f(stack) -> done")
