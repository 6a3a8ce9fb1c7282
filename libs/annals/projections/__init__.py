"""annals.projections: projectors, versioned read models, rebuilds (docs/rules.md#delivery).

A `Projection` declares its topics, SQLAlchemy tables and a handler per event type; a
`Worker` consumes its topics as a member of `projector.<name>`; `rebuild` replays the event
stores (or Kafka from offset 0) into a new version and switches to it atomically.
"""

from annals.projections.engine import Applier, BatchResult, DeadLetter
from annals.projections.events import Event, PoisonRecord
from annals.projections.projection import Projection, Rows

__all__ = [
    "Applier",
    "BatchResult",
    "DeadLetter",
    "Event",
    "PoisonRecord",
    "Projection",
    "Rows",
]
