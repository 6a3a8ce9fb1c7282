"""The expected-version rule of appends and If-Match, and its integer codes.

An append states what it expects of the stream: ANY, NO_STREAM, STREAM_EXISTS or an exact
version n >= 0. The SQL function and the adapters take it as one integer: n >= 0 exact (0 is
also "no stream"), -1 any, -2 exists.
"""

from __future__ import annotations

import enum

from annals.eventstore.errors import InvalidExpectedVersion


class StreamState(enum.Enum):
    """Expected-version forms that are not a number."""

    ANY = "any"
    NO_STREAM = "no_stream"
    STREAM_EXISTS = "stream_exists"


ANY = StreamState.ANY
NO_STREAM = StreamState.NO_STREAM
STREAM_EXISTS = StreamState.STREAM_EXISTS
ExpectedVersion = StreamState | int

ANY_CODE = -1
NO_STREAM_CODE = 0
EXISTS_CODE = -2
_CODES = {ANY: ANY_CODE, NO_STREAM: NO_STREAM_CODE, STREAM_EXISTS: EXISTS_CODE}
_KINDS = {NO_STREAM_CODE: "none", ANY_CODE: "any", EXISTS_CODE: "exists"}


def expected_code(expected: object) -> int:
    """The integer code of an expected version (-1 any, -2 exists, 0 none, n exact)."""
    if isinstance(expected, StreamState):
        return _CODES[expected]
    if type(expected) is int and expected >= 0:
        return expected
    raise InvalidExpectedVersion(
        f"expected_version must be ANY, NO_STREAM, STREAM_EXISTS or an int >= 0, not {expected!r}"
    )


def kind_of(code: int) -> str:
    """The statement variant of a code: exact, none, any or exists."""
    return "exact" if code > 0 else _KINDS[code]


def code_allows(code: int, current: int, exists: bool) -> bool:
    """Whether a stream at `current` (existing or not) meets the expected-version code."""
    if code == ANY_CODE:
        return True
    if code == EXISTS_CODE:
        return exists
    if code == NO_STREAM_CODE:
        return not exists
    return code == current


def if_match_allows(expected: ExpectedVersion | None, current: int) -> bool:
    """Whether an If-Match expectation (None: no check) holds at the stream's version."""
    if expected is None:
        return True
    if expected is STREAM_EXISTS:
        return current > 0
    return expected == current
