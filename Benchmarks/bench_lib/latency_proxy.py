"""A loopback TCP proxy that holds every response back: S3 latency for the benchmark.

Each chunk the upstream (the S3 emulator) sends is delivered to the client `delay_ms` after it arrived, in
order, so every response starts `delay_ms` late while a long body still streams at full speed. Requests go
upstream at once. This is the latency a client sees from S3 in a region (tens to ~200 ms for small PUTs),
without touching the emulator's own cost.

Runs in a thread of the harness (`LatencyProxy(...).start()`), listens on 127.0.0.1 only. Built on asyncio's
protocols, with one timer per side of a connection, because it shares the cores it measures: its CPU is
taken from the receivers and the emulator (about 0.23 s per `spooled` run of 150 ct at 50 ms).
"""
from __future__ import annotations

import asyncio
import collections
import threading


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay_ms: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay_ms / 1000.0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> "LatencyProxy":
        self._thread = threading.Thread(target=self._run, name=f"latency-proxy-{self.delay * 1000:.0f}ms",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("latency proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            loop.create_server(lambda: _Client(self.upstream, self.delay), "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.close()


class _Held:
    """What one side of a connection receives, written to the other side's transport `delay` seconds after it
    arrived, in order (one timer per side at a time, so equal arrival times keep their order); the end of the
    stream is passed on the same way."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.out: asyncio.Transport | None = None
        self.pending: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def push(self, data: bytes | None) -> None:
        if self.delay <= 0 and self.out is not None and not self.pending:
            self._write(data)
            return
        self.pending.append((self.loop.time() + self.delay, data))
        if self.timer is None and self.out is not None:
            self._schedule()

    def attach(self, out: asyncio.Transport) -> None:
        self.out = out
        if self.pending and self.timer is None:
            self._schedule()

    def _schedule(self) -> None:
        self.timer = self.loop.call_at(self.pending[0][0], self._deliver)

    def _deliver(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.pending and self.pending[0][0] <= now:
            self._write(self.pending.popleft()[1])
        if self.pending:
            self._schedule()

    def _write(self, data: bytes | None) -> None:
        if self.out is None or self.out.is_closing():
            return
        if data is None:
            self.out.close()
        else:
            self.out.write(data)


class _Upstream(asyncio.Protocol):
    """The emulator's side of one proxied connection: what it sends is held back by the delay."""

    def __init__(self, client: "_Client") -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.client.responses.push(data)

    def connection_lost(self, exc) -> None:
        self.client.responses.push(None)

    # A slow reader on one side stops reading on the other, so nothing queues without bound.
    def pause_writing(self) -> None:
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client.transport.resume_reading()


class _Client(asyncio.Protocol):
    """The receiver's side of one proxied connection: requests go upstream at once."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream_address = upstream
        self.loop = asyncio.get_running_loop()
        self.responses = _Held(self.loop, delay)
        self.requests = _Held(self.loop, 0.0)
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.responses.attach(transport)
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            _, self.upstream = await self.loop.create_connection(lambda: _Upstream(self), *self.upstream_address)
        except OSError:
            self.transport.close()
            return
        self.requests.attach(self.upstream.transport)

    def data_received(self, data: bytes) -> None:
        self.requests.push(data)

    def connection_lost(self, exc) -> None:
        self.requests.push(None)

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.resume_reading()
