"""ETags are stream versions (`"3"`); If-Match turns into the expected version of a command."""

from __future__ import annotations

import re

from annals.eventstore.ports import STREAM_EXISTS, ExpectedVersion
from annals.web.problems import Problem

_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def etag(version: int) -> str:
    """The ETag of a stream version."""
    return f'"{version}"'


def parse_if_match(value: str | None) -> ExpectedVersion | None:
    """The version If-Match asks for: None (absent), STREAM_EXISTS (`*`) or a number."""
    if value is None:
        return None
    if value.strip() == "*":
        return STREAM_EXISTS
    match = _TAG.match(value)
    if match is None:
        raise Problem(
            400,
            "Malformed If-Match",
            'If-Match must be one entity tag such as "3" (a stream version) or *',
            slug="malformed-if-match",
        )
    return int(match.group(1))
