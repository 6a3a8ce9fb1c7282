"""200 concurrent commands against one orders worker with a pool of 2: all answered, in bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from orders.settings import OrdersSettings

from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from tests.support.live_services import LiveService, free_port, service_env

pytestmark = pytest.mark.stack
ACQUIRE_TIMEOUT = 2.0
MARGIN = 3.0  # the worker's own work for 200 requests on a shared 2-core machine
REQUESTS = 200


@pytest.fixture
def worker(stack: StackSettings, orders_db: str, tmp_path: Path) -> Iterator[LiveService]:
    """One orders worker (one process) whose pool holds 2 connections."""
    port = free_port()
    env = service_env(
        "orders", stack, orders_db, port,
        POOL_SIZE="2", ACQUIRE_TIMEOUT=str(ACQUIRE_TIMEOUT), LOG_JSON="false",
    )  # fmt: skip
    service = LiveService("orders", port, tmp_path / "orders.log", env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


async def timed_post(
    client: httpx.AsyncClient, body: dict[str, str], headers: dict[str, str]
) -> tuple[int, float]:
    started = time.monotonic()
    answer = await client.post("/orders", json=body, headers=headers)
    return answer.status_code, time.monotonic() - started


async def test_an_exhausted_pool_answers_every_request_within_the_acquire_bound(
    worker: LiveService, unique: str
):
    settings = OrdersSettings(port=worker.port)
    token = mint_token(settings, ("orders:write", "read"))
    auth = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    timeout = httpx.Timeout(ACQUIRE_TIMEOUT + MARGIN + 10)
    async with httpx.AsyncClient(base_url=worker.url, limits=limits, timeout=timeout) as client:
        ids = [f"{unique}-{i}" for i in range(REQUESTS)]
        answers = await asyncio.gather(
            *(
                timed_post(
                    client,
                    {"order_id": order_id, "customer_id": "c-1", "currency": "EUR"},
                    {**auth, "Idempotency-Key": uuid.uuid4().hex},
                )
                for order_id in ids
            )
        )
        statuses = [status for status, _ in answers]
        assert set(statuses) <= {201, 503}, sorted(set(statuses))
        assert statuses.count(201) > 0
        slowest = max(elapsed for _, elapsed in answers)
        assert slowest <= ACQUIRE_TIMEOUT + MARGIN, slowest

        # Served normally afterwards: every acknowledged order is there, new commands work.
        placed = [i for i, (status, _) in zip(ids, answers, strict=True) if status == 201]
        for order_id in placed:
            assert (await client.get(f"/orders/{order_id}", headers=auth)).status_code == 200
        for i in range(20):
            body = {"order_id": f"{unique}-after-{i}", "customer_id": "c-1", "currency": "EUR"}
            answer = await client.post("/orders", json=body, headers=auth)
            assert answer.status_code == 201, answer.text
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
    assert "Traceback" not in worker.output()
