"""The leader's host vanishes (link cut, then the process killed): its lock is gone in seconds.

No FIN or RST ever reaches the server, as when a machine loses power: only the TCP keepalives
of the lock session (leadership.KEEPALIVE) tell the server that the holder is gone. The leader
runs in a network namespace of its own, joined to the host by a veth pair, and talks to a
private PostgreSQL; cutting the link and killing the process leaves the server with a silent
peer. The standby, on the host, must then take the lock within about 11 s (5 s idle + 3 probes
2 s apart), not the kernel's default of more than two hours. Needs root (namespaces, veth).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from annals.messaging.leadership import Leadership, current_leader
from annals.stack.settings import REPO_ROOT
from tests.faults.messaging.private_servers import PrivatePostgres

pytestmark = [pytest.mark.stack, pytest.mark.slow]

LEADER = """
import asyncio, sys
from annals.messaging.leadership import Leadership

async def main():
    leadership = Leadership(sys.argv[1], sys.argv[2], 0.2)
    assert await leadership.try_acquire()
    print("leading", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Island:
    """A network namespace joined to the host by a veth pair on a /24 of its own."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns, self.host_if, self.peer_if = f"annals-{tag}", f"anh{tag}", f"anp{tag}"
        net = f"10.213.{random.randint(1, 250)}"
        self.host_ip, self.peer_ip = f"{net}.1", f"{net}.2"

    def up(self) -> Island:
        ip("netns", "add", self.ns)
        ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if)
        ip("link", "set", self.peer_if, "netns", self.ns)
        ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        ip("link", "set", self.host_if, "up")
        ip("-n", self.ns, "addr", "add", f"{self.peer_ip}/24", "dev", self.peer_if)
        ip("-n", self.ns, "link", "set", self.peer_if, "up")
        ip("-n", self.ns, "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        """Pull the cable: nothing passes either way any more."""
        ip("-n", self.ns, "link", "set", self.peer_if, "down")

    def destroy(self) -> None:
        for args in (("netns", "del", self.ns), ("link", "del", self.host_if)):
            subprocess.run(["ip", *args], capture_output=True, check=False, timeout=10)


@pytest.fixture
def island() -> Iterator[Island]:
    """A namespace for the leader (skips without root or without veth support)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    net = Island()
    try:
        net.up()
    except subprocess.CalledProcessError as exc:
        net.destroy()
        pytest.skip(f"no network namespace here: {exc.stderr!r}")
    try:
        yield net
    finally:
        net.destroy()


@pytest.fixture
async def server(island: Island) -> AsyncIterator[PrivatePostgres]:
    """A private PostgreSQL listening on loopback and on the island's link."""
    pg = PrivatePostgres()
    try:
        await asyncio.to_thread(pg.up, f"{island.host_ip}/24")
        yield pg
    finally:
        await asyncio.to_thread(pg.destroy)


async def test_the_server_ends_a_vanished_leaders_session_and_the_standby_leads(
    island: Island, server: PrivatePostgres, unique: str
):
    db = await server.migrate()
    name = f"orders.events.{unique}"
    remote_dsn = db.dsn.replace(f"@{server.settings.host}:", f"@{island.host_ip}:")
    leader = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", island.ns, sys.executable, "-c", LEADER, remote_dsn, name,
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    standby = Leadership(db.dsn, name, 0.2)
    try:
        assert leader.stdout is not None
        line = await asyncio.wait_for(leader.stdout.readline(), 30)
        assert line.strip() == b"leading", line
        assert (await current_leader(db.dsn, name))[1]
        waiting = asyncio.create_task(standby.acquire())
        await asyncio.sleep(1)
        assert not waiting.done()  # the leader is alive: the standby waits

        island.cut()
        leader.send_signal(signal.SIGKILL)  # its FIN goes nowhere
        await asyncio.wait_for(leader.wait(), 10)
        cut_at = time.monotonic()
        conn = await asyncio.wait_for(waiting, 40)
        takeover = time.monotonic() - cut_at
        assert conn is not None and standby.leading
    finally:
        if leader.returncode is None:
            leader.kill()
            await asyncio.wait_for(leader.wait(), 10)
        await standby.release()

    assert takeover < 20, f"the dead leader's lock was released after {takeover:.1f}s"
    print(f"standby leads {takeover:.1f}s after the leader's host vanished")
