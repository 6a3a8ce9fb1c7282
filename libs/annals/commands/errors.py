"""Errors raised by pure decide functions; the HTTP layer maps them to problem+json."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a decision can raise."""

    status: int = 422

    def __init__(self, rule: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.field = field


class RuleBroken(DomainError):
    """A business rule forbids the command in the aggregate's current state (422)."""


class NotFound(DomainError):
    """The command addresses an aggregate that does not exist (404)."""

    status = 404

    def __init__(self, kind: str, aggregate_id: str) -> None:
        super().__init__(f"{kind}-not-found", f"{kind} {aggregate_id!r} does not exist")


class AlreadyExists(DomainError):
    """A creating command names an aggregate that already exists (409)."""

    status = 409

    def __init__(self, kind: str, aggregate_id: str) -> None:
        super().__init__(f"{kind}-exists", f"{kind} {aggregate_id!r} already exists")
