"""The console in a real browser: sign-in, every page at two sizes, topology, a rebuild, refusal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from annals.topology import describe
from tests.browser.conftest import VIEWPORTS, screenshot, sign_in

pytestmark = pytest.mark.stack
PAGES = {"topology": "/", "streams": "/streams", "live": "/live", "charts": "/charts",
         "projections": "/projections",
         "dead-letters": "/dead-letters", "publishers": "/publishers"}  # fmt: skip


def test_without_a_token_the_browser_lands_on_sign_in(browser: Browser, console_url: str) -> None:
    page = browser.new_page()
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


def test_a_rebuild_started_from_the_page_reaches_its_switch(
    browser: Browser, console_url: str
) -> None:
    page = sign_in(browser, console_url, "read", "admin")
    page.goto(f"{console_url}/projections")
    page.locator("#actions-order_summary").get_by_role("button", name="Rebuild").click()
    switch = page.locator("#actions-order_summary").get_by_role("button", name="Switch to v")
    expect(switch).to_be_visible(timeout=60_000)
    bar = page.locator("#actions-order_summary progress")
    assert bar.get_attribute("value") == "100"
    screenshot(page, "rebuild-ready")
    switch.click()
    expect(page.locator(".note")).to_contain_text("is live")
    page.context.close()


def test_an_order_placed_over_http_appears_in_the_live_log_and_stream_view(
    browser: Browser, console_url: str, orders_url: str
) -> None:
    import uuid

    import httpx
    from orders.settings import OrdersSettings

    from annals.web.auth import mint_token

    order = f"b{uuid.uuid4().hex[:10]}"
    page = sign_in(browser, console_url, "read")
    page.goto(f"{console_url}/live?topic=orders.events&stream=order-{order}")
    expect(page.locator("#live-status")).to_have_text("following", timeout=20_000)
    token = mint_token(OrdersSettings(), ["orders:write"], subject="browser")
    body = {"order_id": order, "customer_id": "c-1", "currency": "EUR"}
    answer = httpx.post(f"{orders_url}/orders", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 201, answer.text
    row = page.locator("#live tr.entry").first
    expect(row).to_contain_text("OrderPlaced", timeout=30_000)
    screenshot(page, "live-order")
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(f"order-{order}")
    expect(page.locator("section.event").first).to_contain_text("OrderPlaced")
    screenshot(page, "stream-order")
    page.context.close()
