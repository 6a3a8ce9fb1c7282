"""The e2e tests use the projection tests' private rig (scratch databases, own topics)."""

from tests.integration.projections.conftest import rig

__all__ = ["rig"]
