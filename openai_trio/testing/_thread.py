"""Run a FakeServer on a background thread, for code that is not trio."""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Iterator

import trio
import trio.from_thread
import trio.lowlevel

from ._server import FakeServer

__all__ = ["run_fake_server_in_thread"]


@contextlib.contextmanager
def run_fake_server_in_thread(
    server: FakeServer | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve ``server`` (a new default one if None) over loopback TCP in a
    background thread running its own ``trio.run``; yield its base URL.

    Script the server (``enqueue``, ``route``) before entering, or from the
    body: both only append to Python containers.  Leaving the block stops
    the server and joins the thread; an exception that crashed the server's
    thread is raised there.
    """
    fake = FakeServer() if server is None else server
    started: queue.Queue[tuple[str, trio.lowlevel.TrioToken, trio.CancelScope] | BaseException] = (
        queue.Queue()
    )
    failure: list[BaseException] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with fake:
                await fake.serve_tcp(host, port)
                started.put((fake.base_url, trio.lowlevel.current_trio_token(), scope))
                await trio.sleep_forever()

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as exc:
            failure.append(exc)
            started.put(exc)

    thread = threading.Thread(target=thread_main, name="openai-trio-fake-server", daemon=True)
    thread.start()
    try:
        item = started.get(timeout=startup_timeout)
    except queue.Empty:
        raise RuntimeError("the fake server did not start in time") from None
    if isinstance(item, BaseException):
        thread.join()
        raise RuntimeError("the fake server failed to start") from item
    base_url, token, scope = item
    try:
        yield base_url
    finally:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(timeout=startup_timeout)
        if failure:
            raise RuntimeError("the fake server crashed") from failure[0]
