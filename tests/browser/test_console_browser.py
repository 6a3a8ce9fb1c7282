"""The console in a real browser: sign-in, every page at two sizes, topology, a rebuild, refusal,
masking without read:pii, a poison record replayed from the DLQ page, charts from Prometheus."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from customers.settings import CustomersSettings
from orders.settings import OrdersSettings
from playwright.sync_api import Browser, Page, expect

from annals.stack import prometheus
from annals.stack.settings import StackSettings
from annals.topology import describe
from annals.web.auth import mint_token
from tests.browser.conftest import VIEWPORTS, Console, screenshot, sign_in

pytestmark = pytest.mark.stack
PAGES = {"topology": "/", "streams": "/streams", "live": "/live", "charts": "/charts",
         "projections": "/projections",
         "dead-letters": "/dead-letters", "publishers": "/publishers"}  # fmt: skip


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_without_a_token_the_browser_lands_on_sign_in(
    browser: Browser, console_url: str, viewport: str
) -> None:
    width, height = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{console_url}/projections")
    assert page.url.startswith(f"{console_url}/signin?next=/projections")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "signin")
    page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_renders_at_both_sizes(
    browser: Browser, console_url: str, viewport: str
) -> None:
    page = sign_in(browser, console_url, "read", viewport=viewport)
    for name, path in PAGES.items():
        answer = page.goto(f"{console_url}{path}")
        assert answer is not None and answer.status == 200, path
        expect(page.locator("h1")).to_be_visible()
        screenshot(page, name)
    page.context.close()


def test_topology_shows_every_service_topic_and_projection(
    browser: Browser, console_url: str
) -> None:
    page = sign_in(browser, console_url, "read")
    page.goto(console_url)
    described = describe()
    for topic in described["topics"]:
        expect(page.locator(f'[data-node="topic:{topic["name"]}"]')).to_be_visible()
    for projection in described["projections"]:
        expect(page.locator(f'[data-node="projection:{projection["name"]}"]')).to_be_visible()
    for service in described["services"]:
        name = service["name"]
        nodes = page.locator(f'[data-node="service:{name}"], [data-node="reads:{name}"]')
        expect(nodes.first).to_be_visible()
    page.context.close()


def test_a_reader_cannot_act(browser: Browser, console_url: str) -> None:
    page = sign_in(browser, console_url, "read")
    page.goto(f"{console_url}/projections")
    expect(page.get_by_role("button", name="Rebuild")).to_have_count(0)
    status = page.evaluate(
        """async () => {
            const csrf = document.body.getAttribute("hx-headers").split('"')[3];
            const r = await fetch("/projections/order_summary/rebuild",
                                  {method: "POST", headers: {"X-CSRF-Token": csrf}});
            return r.status; }"""
    )
    assert status == 403
    page.context.close()


def test_an_action_without_the_csrf_token_is_refused(browser: Browser, console_url: str) -> None:
    page = sign_in(browser, console_url, "read", "admin")
    page.goto(f"{console_url}/projections")
    answers = page.evaluate(
        """async () => {
            const post = async (headers) => {
                const r = await fetch("/actions/check", {method: "POST", headers: headers});
                return [r.status, (await r.text()).includes("CSRF")]; };
            const csrf = document.body.getAttribute("hx-headers").split('"')[3];
            return [await post({}), await post({"X-CSRF-Token": "forged"}),
                    await post({"X-CSRF-Token": csrf})]; }"""
    )
    assert answers == [[403, True], [403, True], [200, False]]
    page.context.close()


def test_a_rebuild_started_from_the_page_reaches_its_switch_and_outlives_a_restart(
    browser: Browser, console: Console
) -> None:
    console_url = console.url
    page = sign_in(browser, console_url, "read", "admin")
    page.goto(f"{console_url}/projections")
    page.locator("#actions-order_summary").get_by_role("button", name="Rebuild").click()
    switch = page.locator("#actions-order_summary").get_by_role("button", name="Switch to v")
    expect(switch).to_be_visible(timeout=60_000)
    bar = page.locator("#actions-order_summary progress")
    assert bar.get_attribute("value") == "100"
    screenshot(page, "rebuild-ready")
    console.restart()  # the caught-up version waits for its switch in the registry
    page.goto(f"{console_url}/projections")
    expect(switch).to_be_visible()
    switch.click()
    expect(page.locator(".note")).to_contain_text("is live")
    page.context.close()


def test_an_order_placed_over_http_appears_in_the_live_log_and_stream_view(
    browser: Browser, console_url: str, orders_url: str
) -> None:
    order = f"b{uuid.uuid4().hex[:10]}"
    page = sign_in(browser, console_url, "read")
    page.goto(f"{console_url}/live?topic=orders.events&stream=order-{order}")
    expect(page.locator("#live-status")).to_have_text("following", timeout=20_000)
    token = mint_token(OrdersSettings(), ["orders:write"], subject="browser")
    body = {"order_id": order, "customer_id": "c-1", "currency": "EUR"}
    headers = {"Authorization": f"Bearer {token}", "X-Correlation-ID": f"corr-{order}"}
    answer = httpx.post(f"{orders_url}/orders", json=body, headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    row = page.locator("#live tr.entry").first
    expect(row).to_contain_text("OrderPlaced", timeout=30_000)
    screenshot(page, "live-order")
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(f"order-{order}")
    expect(page.locator("section.event").first).to_contain_text("OrderPlaced")
    expect(page.locator("#state")).to_contain_text(f'"order_id": "{order}"')  # as of v1
    screenshot(page, "stream-order")
    page.get_by_role("link", name=f"corr-{order}").click()  # follow the correlation id
    expect(page.locator("h1")).to_have_text(f"correlation corr-{order}")
    expect(page.get_by_role("link", name=f"order-{order}@1")).to_be_visible()
    page.goto(f"{console_url}/streams?q=order-{order}")  # find it by id
    expect(page.get_by_role("link", name=f"order-{order}")).to_be_visible()
    page.context.close()


def _until(page: Page, url: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Reload `url` until check() holds (the pages are server-rendered snapshots)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: not as expected after {timeout:.0f}s")
        time.sleep(1)


def test_personal_data_is_masked_without_read_pii(
    browser: Browser, console_url: str, customers_url: str
) -> None:
    customer = f"pii{uuid.uuid4().hex[:10]}"
    name = f"Ada {customer}"
    token = mint_token(CustomersSettings(), ["customers:write"], subject="browser")
    body = {"customer_id": customer, "name": name, "email": f"{customer}@example.org"}
    answer = httpx.post(f"{customers_url}/customers", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 201, answer.text
    stream = f"{console_url}/streams/customer-{customer}"
    reader = sign_in(browser, console_url, "read")
    reader.goto(stream)
    expect(reader.locator("section.event").first).to_contain_text('"name": "***"')
    expect(reader.locator("main")).not_to_contain_text(name)
    screenshot(reader, "stream-masked")
    reader.context.close()
    holder = sign_in(browser, console_url, "read", "read:pii")
    holder.goto(stream)
    expect(holder.locator("section.event").first).to_contain_text(f'"name": "{name}"')
    screenshot(holder, "stream-revealed")
    holder.context.close()


def _dead_count(page: Page) -> int:
    return int(page.locator('tr[data-projection="order_summary"] td.dead').inner_text())


def _sql(stack: StackSettings, sql: str) -> Any:
    """One value of `sql` on readmodels (in a thread: Playwright's loop runs in this one)."""

    async def run() -> Any:
        conn = await asyncpg.connect(stack.dsn("readmodels"), timeout=10)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_poison_record_is_replayed_from_the_dlq_page_after_the_fix(
    browser: Browser, console_url: str, orders_url: str, projector: Path, stack: StackSettings
) -> None:
    order = f"p{uuid.uuid4().hex[:10]}"
    page = sign_in(browser, console_url, "read", "admin")
    _until(page, f"{console_url}/projections",
           lambda: page.locator('tr[data-projection="order_summary"] td.state').inner_text()
           .strip() == "live", timeout=120)  # fmt: skip
    before = _dead_count(page)
    # The cause: a constraint deployed by mistake on the live table rejects this order's row.
    live = (
        "SELECT schema_name FROM projections.versions v JOIN projections.registry r "
        "ON r.name = v.name AND r.live_version = v.version WHERE v.name = 'order_summary'"
    )
    schema = _sql(stack, live)
    table = f'"{schema}".order_summary'
    _sql(stack, f"ALTER TABLE {table} ADD CONSTRAINT browser_{order} CHECK (order_id <> '{order}')")
    try:
        token = mint_token(OrdersSettings(), ["orders:write"], subject="browser")
        answer = httpx.post(f"{orders_url}/orders", json={"order_id": order, "customer_id": "c-1",
                            "currency": "EUR"}, headers={"Authorization": f"Bearer {token}"},
                            timeout=10)  # fmt: skip
        assert answer.status_code == 201, answer.text
        _until(page, f"{console_url}/projections", lambda: _dead_count(page) > before)
        screenshot(page, "projections-dead-letter")
        page.goto(f"{console_url}/dead-letters")
        letter = page.locator('[data-group="projector.order_summary"] article.letter',
                              has_text=f"order-{order}")  # fmt: skip
        expect(letter).to_be_visible()
        expect(letter).to_contain_text("write failed")
        screenshot(page, "dead-letter")
    finally:  # the fix
        _sql(stack, f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS browser_{order}")
    letter.get_by_role("button", name="Replay").click()
    expect(page.locator(".note")).to_contain_text("1 applied")
    status = f"SELECT status FROM readmodels.order_summary WHERE order_id = '{order}'"
    assert _sql(stack, status) is not None
    _until(page, f"{console_url}/projections",
           lambda: page.locator('tr[data-projection="order_summary"] td.lag').inner_text()
           .strip() == "0")  # fmt: skip
    screenshot(page, "projections-replayed")
    page.context.close()


def _targets_up(stack: StackSettings, components: set[str]) -> bool:
    answer = httpx.get(f"{prometheus.url(stack)}/api/v1/targets", timeout=5).json()
    up = {t["labels"].get("component") for t in answer["data"]["activeTargets"]
          if t["health"] == "up"}  # fmt: skip
    return components <= up


def test_the_charts_read_the_stack_prometheus(
    browser: Browser, console_url: str, orders_url: str, projector: Path, stack: StackSettings
) -> None:
    if not prometheus.enabled(stack):
        pytest.skip("the stack runs no Prometheus")
    wanted = {"orders", "publisher-orders", "projector-browser"}
    deadline = time.monotonic() + 60
    while not _targets_up(stack, wanted):
        assert time.monotonic() < deadline, f"Prometheus does not scrape {wanted}"
        time.sleep(1)
    token = mint_token(OrdersSettings(), ["orders:write"], subject="browser")
    for _ in range(3):
        body = {"order_id": f"m{uuid.uuid4().hex[:10]}", "customer_id": "c-1", "currency": "EUR"}
        httpx.post(f"{orders_url}/orders", json=body,
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    page = sign_in(browser, console_url, "read")
    throughput = page.locator("section.chart").first
    _until(page, f"{console_url}/charts",
           lambda: "topic=orders.events" in throughput.inner_text(), timeout=90)  # fmt: skip
    expect(throughput.locator(".uplot canvas").first).to_be_visible()  # drawn by uPlot
    latency = page.locator("section.chart", has_text="Command latency")
    expect(latency).to_contain_text("service=orders")
    screenshot(page, "charts-data")
    page.context.close()
