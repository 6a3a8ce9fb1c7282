"""annals.commands: what command handlers share (domain errors, load-decide-append, unit of work).

This module and `errors` import only the standard library, so domain modules may use them.
"""

from annals.commands.errors import AlreadyExists, DomainError, NotFound, RuleBroken

__all__ = ["AlreadyExists", "DomainError", "NotFound", "RuleBroken"]
