"""The identifier rule: aggregate ids are 1-64 letters, digits, '_' or '-'.

Commands (pydantic), the HTTP path parameters and the query API validate ids with the one
pattern here, so an id accepted by one is accepted by all.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
AggregateId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
