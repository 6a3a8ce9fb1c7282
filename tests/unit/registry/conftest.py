"""The registry served over HTTP for the tests of this folder (tests.support.registry)."""

from tests.support.registry import served

__all__ = ["served"]
