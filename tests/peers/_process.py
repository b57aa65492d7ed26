"""Starting and stopping a peer as a subprocess: free ports, readiness
polls, and a bounded stop that leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
from typing import Callable, Iterator, Mapping, Sequence

__all__ = [
    "PeerMissing",
    "PeerStartError",
    "free_port",
    "log_tail",
    "port_accepts",
    "running",
    "stop_process",
    "wait_until",
]

# How long a peer gets to start listening, and to exit once asked.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


class PeerMissing(RuntimeError):
    """The peer's program or package is not installed; the message says how
    to install it."""


class PeerStartError(RuntimeError):
    """A peer did not come up; the message carries the end of its log.
    ``address_in_use``: it lost a port race and may be started again."""

    def __init__(self, message: str, *, address_in_use: bool = False) -> None:
        super().__init__(message)
        self.address_in_use = address_in_use


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now.  Another process may take it
    before the peer binds it: starters retry on ``address_in_use``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: pathlib.Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return text[-limit:] if text else f"(empty log at {path})"


def _tails(logs: Sequence[pathlib.Path]) -> str:
    return "\n".join(f"its log {path} ends:\n{log_tail(path)}" for path in logs)


def wait_until(
    ready: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    what: str,
    log: pathlib.Path | Sequence[pathlib.Path],
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``ready`` until it holds, the process exits, or ``timeout``
    passes; the last two raise ``PeerStartError`` with the end of each log."""
    logs = [log] if isinstance(log, pathlib.Path) else list(log)
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not ready():
        code = process.poll()
        if code is not None:
            tail = _tails(logs)
            raise PeerStartError(
                f"{what} exited with status {code} before it was ready; {tail}",
                address_in_use="Address already in use" in tail or "EADDRINUSE" in tail,
            )
        if time.monotonic() > deadline:
            raise PeerStartError(
                f"{what} was not ready after {timeout:.0f} s; {_tails(logs)}"
            )
        time.sleep(delay)
        # A peer is usually up within a few polls; past that, poll less often.
        delay = min(delay * 2, 0.2)


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """TERM the peer, wait up to ``timeout``, then KILL its whole process
    group (nginx's workers and proxy.py's acceptors outlive a killed
    parent otherwise)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # The group is the one the peer was started in (start_new_session), so
    # it holds the peer's own children and nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout)


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    log: pathlib.Path,
    env: Mapping[str, str] | None = None,
    cwd: pathlib.Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with its output going to ``log``, in a session of its
    own; stopped by pid (then by group) however the block exits."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process(process)
