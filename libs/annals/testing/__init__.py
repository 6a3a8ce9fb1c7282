"""A testing kit for code built on Annals: given / when / then for deciders, handlers,
projections and reactors."""

from annals.testing.deciders import DeciderSpec
from annals.testing.handlers import HandlerSpec
from annals.testing.projections import ProjectionSpec
from annals.testing.reactors import Delivery, ReactorSpec

__all__ = ["DeciderSpec", "Delivery", "HandlerSpec", "ProjectionSpec", "ReactorSpec"]
