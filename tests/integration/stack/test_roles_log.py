"""Bind parameters (keys, personal data) never reach the server log, even of slow or failing SQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from annals.stack.postgres import server_log
from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack


async def test_a_slow_or_failing_statement_logs_no_parameter_value(stack: StackSettings) -> None:
    log = server_log(stack)
    if not log.exists():
        pytest.skip("the server's log is not on this machine (container stack)")
    assert log.stat().st_mode & 0o777 == 0o600
    probe, secret = uuid.uuid4().hex, f"pii-{uuid.uuid4().hex}"
    conn = await asyncpg.connect(stack.dsn())
    try:
        assert await conn.fetchval("SHOW log_parameter_max_length") == "0"
        assert await conn.fetchval("SHOW log_parameter_max_length_on_error") == "0"
        await conn.execute("SET log_min_duration_statement = 0")
        await conn.fetchval(f"SELECT /* slow-{probe} */ pg_sleep($1), $2::text", 0.05, secret)
        with pytest.raises(asyncpg.DivisionByZeroError):
            await conn.fetchval(f"SELECT /* fails-{probe} */ length($1::text) / 0", secret)
    finally:
        await conn.close()
    text = ""
    for _ in range(50):  # the server writes its log asynchronously
        text = log.read_text(errors="replace")
        if f"slow-{probe}" in text and f"fails-{probe}" in text:
            break
        await asyncio.sleep(0.1)
    assert f"slow-{probe}" in text and f"fails-{probe}" in text
    assert secret not in text
