"""The stream-name rule: a stream of an aggregate is `<kind>-<aggregate id>`.

The kind (the stream type: `order`, `customer`) is the part before the first '-'; stream ids are
non-empty and at most MAX_STREAM_ID_LENGTH characters. Every place that builds or reads a
stream id (deciders, stores, consistency tokens, sandboxes) goes through these functions.
"""

from __future__ import annotations

from annals.eventstore.errors import InvalidEvent

MAX_STREAM_ID_LENGTH = 200
SEPARATOR = "-"


def stream_id(kind: str, aggregate_id: str) -> str:
    """The stream of an aggregate: `order`, `o1` -> `order-o1`."""
    return f"{kind}{SEPARATOR}{aggregate_id}"


def kind_of(stream: str) -> str:
    """The kind (stream type) of a stream id: `order-o1` -> `order`."""
    return stream.split(SEPARATOR, 1)[0]


def aggregate_of(stream: str) -> str:
    """The aggregate id of a stream id: `order-o1` -> `o1` ('' without a kind)."""
    return stream.partition(SEPARATOR)[2]


def check_stream_id(stream: object) -> str:
    """Return the stream id when it is usable, else raise InvalidEvent."""
    if not isinstance(stream, str) or not stream or len(stream) > MAX_STREAM_ID_LENGTH:
        raise InvalidEvent(
            f"stream id must be a non-empty str of <= {MAX_STREAM_ID_LENGTH} chars: {stream!r}"
        )
    return stream
