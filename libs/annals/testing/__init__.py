"""A testing kit for code built on Annals: given / when / then for deciders and projections."""

from annals.testing.deciders import DeciderSpec
from annals.testing.projections import ProjectionSpec

__all__ = ["DeciderSpec", "ProjectionSpec"]
