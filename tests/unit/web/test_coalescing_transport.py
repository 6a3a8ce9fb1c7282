"""The services' uvicorn protocol: a response's writes of one loop iteration leave as one."""

from __future__ import annotations

import asyncio

from annals.web.server import FLUSH_AT, CoalescingTransport


class RecordingTransport:
    """Stands in for a socket transport: records writes and calls."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def abort(self) -> None:
        self.calls.append("abort")

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def wrap() -> tuple[RecordingTransport, CoalescingTransport]:
    inner = RecordingTransport()
    return inner, CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_head_and_body_of_one_iteration_leave_in_one_write() -> None:
    inner, transport = wrap()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))
    transport.write(b"")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]


async def test_large_bodies_are_not_held() -> None:
    inner, transport = wrap()
    transport.writelines([b"head", b"x" * FLUSH_AT])
    assert inner.writes == [b"head" + b"x" * FLUSH_AT]
    await asyncio.sleep(0)
    assert len(inner.writes) == 1


async def test_close_and_eof_send_what_is_held_first_and_abort_drops_it() -> None:
    inner, transport = wrap()
    transport.write(b"last words")
    transport.write_eof()
    assert inner.writes == [b"last words"] and inner.calls == ["write_eof"]
    transport.write(b"bye")
    transport.close()
    assert inner.writes[-1] == b"bye" and inner.calls[-1] == "close"
    transport.write(b"too late")
    await asyncio.sleep(0)
    assert inner.writes[-1] == b"bye", "nothing is written to a closing transport"
    other, aborted = wrap()
    aborted.write(b"dropped")
    aborted.abort()
    await asyncio.sleep(0)
    assert other.writes == [] and other.calls == ["abort"]
    assert aborted.get_extra_info("peername") == "info:peername"
