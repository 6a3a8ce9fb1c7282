"""Dead letters of projector groups on the wire: the DLQ headers and one log line each.

Besides messaging.dlq's headers (reason, error class, origin, time) a projector's dead letter
says which stream and version it is (`dlq_stream_id`, `dlq_stream_version`, `dlq_event_type`),
so an operator sees which stream it parked and `annals dlq replay` can report on it.
"""

from __future__ import annotations

import logging

from annals.messaging.dlq import HEADER_PREFIX, dlq_headers
from annals.projections.engine import DeadLetter
from annals.projections.events import PoisonRecord

log = logging.getLogger("annals.projections.worker")


class ConflictingDuplicate(Exception):
    """A record has an applied (stream, version) but another event id (an alarm)."""


class VersionGap(Exception):
    """A stream's events arrived with a gap in their versions."""


def letter_headers(letter: DeadLetter, topic: str, group: str) -> list[tuple[str, bytes]]:
    """The DLQ headers of a dead letter (dlq_error_class: the class of the original error)."""
    error: Exception = VersionGap(letter.error) if letter.reason == "version gap" else (
        PoisonRecord(letter.error)
    )  # fmt: skip
    headers = dlq_headers(
        letter.headers, reason=letter.reason, error=error, topic=topic,
        partition=letter.partition, offset=letter.offset, timestamp_ms=None, group=group,
        attempts=1,
    )  # fmt: skip
    if letter.error_class:
        name = f"{HEADER_PREFIX}error_class"
        headers = [(k, letter.error_class.encode() if k == name else v) for k, v in headers]
    extra = {"stream_id": letter.stream_id, "stream_version": letter.version,
             "event_type": letter.event_type}  # fmt: skip
    headers += [(f"{HEADER_PREFIX}{k}", str(v).encode()) for k, v in extra.items() if v is not None]
    return headers


def log_dead(group: str, letter: DeadLetter) -> None:
    """One log line per dead letter (an alarm for a conflicting duplicate)."""
    level = logging.ERROR if letter.reason == "conflicting duplicate" else logging.WARNING
    log.log(
        level, "%s: %s:%s@%s (%s@%s) to the DLQ: %s (%s: %s)", group, letter.topic,
        letter.partition, letter.offset, letter.stream_id or "-", letter.version or "-",
        letter.reason, letter.error_class.rsplit(".", 1)[-1], letter.error,
    )  # fmt: skip
