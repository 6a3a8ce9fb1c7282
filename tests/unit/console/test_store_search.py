"""A search across the stores answers from those it reaches (no I/O: fake store adapters)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from annals.console import stores
from annals.console.stores import Stores


class _Refusing:
    """A store whose every query fails with `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.database = object()

    async def get_stream(self, stream_id: str) -> Any:
        raise self.error


class _Holding:
    """A store holding one stream."""

    database = object()

    async def get_stream(self, stream_id: str) -> Any:
        return f"info:{stream_id}"


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InvalidPasswordError("password authentication failed"),
        ConnectionRefusedError(111, "refused"),
        asyncpg.CannotConnectNowError("starting up"),
    ],
)
async def test_a_store_that_is_away_or_refuses_the_login_is_skipped(error: BaseException) -> None:
    found = await Stores({"away": _Refusing(error), "orders": _Holding()}).find("order-1")  # type: ignore[dict-item]
    assert found is not None
    assert found.store == "orders"


async def test_a_query_error_is_not_hidden() -> None:
    with pytest.raises(asyncpg.SyntaxOrAccessError):
        await stores._unless_new(
            _Refusing(asyncpg.SyntaxOrAccessError("bad")).get_stream("x"), None
        )
