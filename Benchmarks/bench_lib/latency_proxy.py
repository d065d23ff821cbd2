"""A loopback TCP proxy that holds every response back: S3 latency for the benchmark.

Each chunk the upstream (the S3 emulator) sends is delivered to the client `delay_ms` after it arrived, in
order, so every response starts `delay_ms` late while a long body still streams at full speed. Requests go
upstream at once. This is the latency a client sees from S3 in a region (tens to ~200 ms for small PUTs),
without touching the emulator's own cost.

Runs in a thread of the harness (`LatencyProxy(...).start()`), listens on 127.0.0.1 only.
"""
from __future__ import annotations

import asyncio
import threading
import time


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
        self._server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer, 0.0), self._pump(up_reader, writer, self.delay),
                             return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                chunk = await reader.read(1 << 16)
                queue.put_nowait((time.monotonic() + delay, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()
        finally:
            try:
                writer.close()
            except Exception:
                pass
