"""A testing kit for code built on Annals: given / when / then for deciders, handlers and
projections."""

from annals.testing.deciders import DeciderSpec
from annals.testing.handlers import HandlerSpec
from annals.testing.projections import ProjectionSpec

__all__ = ["DeciderSpec", "HandlerSpec", "ProjectionSpec"]
