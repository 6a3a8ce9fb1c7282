"""Query API pieces without I/O: consistency tokens, cursors, ETags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from query.consistency import Outcome, Token, parse_tokens
from query.http import _matches, decode_cursor, encode_cursor, etag_of

from annals.web.problems import Problem


def test_tokens_from_header_and_parameter() -> None:
    tokens = parse_tokens("order-o1@3, customer-c-9@1", "order-x@12")
    assert tokens == [Token("order-o1", 3), Token("customer-c-9", 1), Token("order-x", 12)]
    assert tokens[0].topic == "orders.events" and tokens[1].topic == "customers.events"
    assert Token("invoice-1", 1).topic is None
    assert parse_tokens(None, "") == []


@pytest.mark.parametrize("bad", ["order-o1", "order-o1@0", "@3", "order o1@2", "order-1@x"])
def test_malformed_tokens_are_400(bad: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_tokens(bad, None)
    assert caught.value.status == 400


def test_outcome_headers_say_how_fresh() -> None:
    assert Outcome(True, {}, 0).headers() == {}
    headers = Outcome(False, {"order-o1": 2}, 12.34).headers()
    assert headers == {"X-Consistency": "stale", "X-Consistency-Applied": "order-o1@2",
                       "X-Consistency-Waited-Ms": "12.3"}  # fmt: skip


def test_cursor_round_trip_and_rejection() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    cursor = encode_cursor([moment, "o-9"])
    assert decode_cursor(cursor, 2) == [moment.isoformat(), "o-9"]
    for bad in ("%%%", encode_cursor(["only-one"])):
        with pytest.raises(Problem):
            decode_cursor(bad, 2)


def test_etags_match_if_none_match() -> None:
    tag = etag_of(b"{}")
    assert _matches(tag, tag) and _matches(f'W/{tag}, "other"', tag) and _matches("*", tag)
    assert not _matches(None, tag) and not _matches('"other"', tag)
