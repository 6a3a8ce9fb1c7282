"""One declared topology: services, CDC sources and projections declare themselves once.

Everything that used to list the services (launchers, the CLI, settings, schema export, the
query API's consistency tokens) asks `topology()` instead; docs/topology.md says how to declare.
"""

from annals.topology.declarations import Migration, Service, Source, resolve
from annals.topology.describe import describe
from annals.topology.loader import Topology, TopologyError, topology

__all__ = [
    "Migration", "Service", "Source", "Topology", "TopologyError", "describe", "resolve",
    "topology",
]  # fmt: skip
