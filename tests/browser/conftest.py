"""Browser tests: the console as a real uvicorn process, one headless Debian Chromium a session.

Playwright cannot download its own browser here; it drives /usr/bin/chromium (apt, installed by
`make install`). Screenshots of each page go to tests/browser/artifacts (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from annals.console.settings import ConsoleSettings
from annals.eventstore.migrations import migrate
from annals.eventstore.settings import ServiceDatabase
from annals.messaging import workers
from annals.projections import launcher
from annals.stack import prometheus
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from tests.support.live_services import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


class Console:
    """The console as a uvicorn process on one port; restart() stops it and starts it again."""

    def __init__(self, port: int, log: Path) -> None:
        self.url, self.log = f"http://127.0.0.1:{port}", log
        self.args = [sys.executable, "-m", "uvicorn", "--factory",
                     "annals.console.app:create_app", "--host", "127.0.0.1", "--port", str(port),
                     "--log-level", "warning"]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn it and wait until /readyz answers."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        _wait_ready(self.url, self.process, self.log)

    def stop(self) -> None:
        """SIGTERM (it cancels its running rebuilds) and wait."""
        if self.process is not None:
            _stop(self.process)

    def restart(self) -> None:
        """Stop and start again: what the console keeps comes from the platform, not memory."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def console(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console on a free port, the stores it replays migrated."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (make install installs Debian's chromium)")
    for service in ("orders", "customers"):
        database = ServiceDatabase.for_service(service)
        asyncio.run(migrate(database.owner_dsn, database.app_role))
    asyncio.run(workers.prepare("orders"))  # the relay's tables and topic, as `publishers up`
    port = int(os.environ.get("ANNALS_TEST_CONSOLE_PORT") or free_port())
    process = Console(port, tmp_path_factory.mktemp("console") / "console.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def console_url(console: Console) -> str:
    """The console's base URL."""
    return console.url


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the console did not become ready:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser(console_url: str) -> Iterator[Browser]:
    """One headless Chromium for the browser tests (their one module), started after the
    console; closed after them, as Playwright's loop would break later asyncio tests."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def sign_in(browser: Browser, console_url: str, *scopes: str, viewport: str = "desktop") -> Page:
    """A new browser context signed in with a console token of `scopes`."""
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    token = mint_token(ConsoleSettings(), scopes, audience="console", ttl_seconds=300)
    page.goto(f"{console_url}/signin?token={token}&next=/streams")
    return page


def screenshot(page: Page, name: str) -> None:
    """Save the page as tests/browser/artifacts/<name>-<width>x<height>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size or {"width": 0, "height": 0}
    page.screenshot(path=ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png", full_page=True)


@contextlib.contextmanager
def scraped(stack: StackSettings, name: str, components: dict[str, int]) -> Iterator[None]:
    """The stack's Prometheus scrapes `components` (name -> metrics port) while inside."""
    path = prometheus.targets_dir(stack) / f"browser-{name}.json"
    groups = [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": "browser", "component": c}}
              for c, port in components.items()]  # fmt: skip
    prometheus.write_targets(path, groups)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _worker(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "annals.cli.main", *args],
                                env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


CUSTOMER = "c-1"  # the customer of the browser tests' orders


async def known_customer(stack: StackSettings, customer: str) -> None:
    """Make `customer` active in the order service's customer directory where it is installed
    (PlaceOrder refuses unknown customers once the customer_status projection has run)."""
    conn = await asyncpg.connect(stack.dsn("orders"), timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass('customer_directory.customer_status')"):
            await conn.execute(
                "INSERT INTO customer_directory.customer_status "
                "(customer_id, status, updated_at, version) SELECT $1, 'active', now(), 1 "
                "WHERE NOT EXISTS (SELECT 1 FROM customer_directory.customer_status "
                "WHERE customer_id = $1)",
                customer,
            )
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def orders_url(
    stack: StackSettings, console_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The orders service on a free port over the stack's orders store, and its relay; both
    scraped by the stack's Prometheus."""
    from tests.support.live_services import LiveService, service_env

    folder = tmp_path_factory.mktemp("orders")
    port, relay_port = free_port(), free_port()
    service = LiveService("orders", port, folder / "orders.log",
                          service_env("orders", stack, "orders", port))  # fmt: skip
    service.start()
    with ThreadPoolExecutor(1) as pool:  # a thread: Playwright's loop may run in this one
        pool.submit(asyncio.run, known_customer(stack, CUSTOMER)).result()
    relay = _worker(["publish", "orders"], folder / "relay.log",
                    {"ANNALS_ORDERS_PUBLISHER_METRICS_PORT": str(relay_port)})  # fmt: skip
    try:
        with scraped(stack, "orders", {"orders": port, "publisher-orders": relay_port}):
            yield service.url
    finally:
        _stop(relay)
        service.stop()


@pytest.fixture(scope="session")
def customers_url(
    stack: StackSettings, console_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The customers service on a free port over the stack's customers store."""
    from tests.support.live_services import LiveService, service_env

    folder = tmp_path_factory.mktemp("customers")
    port = free_port()
    service = LiveService("customers", port, folder / "customers.log",
                          service_env("customers", stack, "customers", port))  # fmt: skip
    service.start()
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="session")
def projector(stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A projector worker of order_summary (scraped by Prometheus); its log."""
    log = tmp_path_factory.mktemp("projector") / "projector.log"
    port = free_port()
    env = {"ANNALS_PROJECTOR_METRICS_PORT": str(port), "ANNALS_PROJECTOR_STALL_AFTER_S": "5",
           "ANNALS_PROJECTOR_BEAT_INTERVAL_S": "0.5"}  # fmt: skip
    # As `projectors up` does (the worker creates no topic); in a thread, as Playwright's loop
    # may run in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(launcher.prepare_topics, ["order_summary"]).result()
    worker = _worker(["projections", "run", "order_summary"], log, env)
    try:
        with scraped(stack, "projector", {"projector-browser": port}):
            yield log
    finally:
        _stop(worker)
