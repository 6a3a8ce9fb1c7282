"""uvicorn's httptools protocol with each response sent in one write, not two.

uvicorn writes a response's status line and headers, then its body, with two `transport.write`
calls: two syscalls and two TCP segments per response, and the client wakes twice. On a
loopback, profiles of the command APIs put about half of a worker's busy time in `write`.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_PROTOCOL = "annals.web.server:CoalescingHttpToolsProtocol"
"""The value of uvicorn's `--http` option for the services."""

FLUSH_AT = 64 * 1024


class CoalescingTransport:
    """A transport whose writes of one event-loop iteration leave in one write.

    Data is held until the loop runs its next callbacks, or sent at once past FLUSH_AT bytes
    (so a streamed body never piles up); close and write_eof send what is held first.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold `data`; it leaves with the rest of this iteration's writes."""
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        """Hold each chunk."""
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is held, in one write."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Send what is held, then half-close."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop what is held and abort the connection."""
        self._held.clear()
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Wrap the connection's transport, then set up as uvicorn does."""
        wrapped = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(wrapped)  # type: ignore[arg-type]
