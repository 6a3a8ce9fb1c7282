"""Retriable or not, and what a dead letter carries."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaTimeoutError, RecordTooLargeError

from annals.eventstore.errors import StoreUnavailable, WrongExpectedVersion
from annals.messaging.dlq import dlq_headers, dlq_topic, read_dlq_headers
from annals.messaging.errors import PermanentError, RetriableError, is_retriable


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (RetriableError("later"), True),
        (PermanentError("never"), False),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (StoreUnavailable("db down"), True),
        (WrongExpectedVersion("s", 1, 2), True),
        (KafkaTimeoutError(), True),
        (RecordTooLargeError(), False),
        (ValueError("bad"), False),
        (KeyError("x"), False),
    ],
)
def test_errors_say_whether_a_retry_may_help(error, retriable):
    assert is_retriable(error) is retriable


def test_dead_letter_keeps_original_headers_and_says_why_where_from_and_when():
    headers = dlq_headers(
        [("ce_id", b"e-1"), ("dlq_reason", b"stale")],
        reason="retries exhausted",
        error=RetriableError("db down"),
        topic="orders.events",
        partition=4,
        offset=17,
        timestamp_ms=1_700_000_000_000,
        group="billing",
        attempts=5,
    )
    assert headers[0] == ("ce_id", b"e-1")
    info = read_dlq_headers(headers)
    assert info["reason"] == "retries exhausted"
    assert info["error_class"] == "annals.messaging.errors.RetriableError"
    assert info["error_message"] == "db down"
    assert (info["original_topic"], info["original_partition"], info["original_offset"]) == (
        "orders.events",
        "4",
        "17",
    )
    assert info["attempts"] == "5"
    assert info["timestamp"].endswith("Z")
    assert sum(1 for k, _ in headers if k == "dlq_reason") == 1
    assert dlq_topic("billing") == "billing.dlq"
