"""proxy.py (an HTTP proxy doing CONNECT and plain forwarding) as a
subprocess, optionally asking for Basic credentials."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import sys
import tempfile
import time
from typing import Iterator
from urllib.parse import quote

import attrs

from ._process import PeerMissing, port_accepts, running, wait_until

__all__ = ["PROXY_INSTALL_HINT", "ProxyPeer", "run_proxy"]

PROXY_INSTALL_HINT = "install the test extra: `pip install -e '.[test]'` (tools/test.sh does)"

HOST = "127.0.0.1"


@attrs.frozen
class ProxyPeer:
    """A running proxy.  ``url`` has no credentials; ``url_with_credentials``
    does (for ``HTTPS_PROXY`` and friends)."""

    port: int
    pid: int
    log: pathlib.Path
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    host: str = HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        if self.username is None:
            return self.url
        userinfo = f"{quote(self.username, safe='')}:{quote(self.password or '', safe='')}"
        return f"http://{userinfo}@{self.host}:{self.port}"

    def access_lines(self) -> list[str]:
        """proxy.py's access log so far: one line per finished client
        connection, as ``CONNECT host:port - N bytes``."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "access_log" in line]

    def wait_for_access(self, needle: str, *, count: int = 1, timeout: float = 5.0) -> list[str]:
        """The access lines containing ``needle`` once there are ``count``
        of them (proxy.py writes a line when a connection ends, a moment
        after the client closed it).  Raises ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.access_lines() if needle in line]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy.py logged {len(found)} of {count} connections matching {needle!r}")
            time.sleep(0.02)


@contextlib.contextmanager
def run_proxy(*, username: str | None = None, password: str | None = None) -> Iterator[ProxyPeer]:
    """Start proxy.py on a free port (it picks one and writes it to a file,
    so there is no race) and stop it on exit."""
    if importlib.util.find_spec("proxy") is None:
        raise PeerMissing(f"proxy.py is not installed: {PROXY_INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="peer-proxy-") as tmp:
        directory = pathlib.Path(tmp)
        port_file = directory / "port"
        log = directory / "proxy.log"
        argv = [
            sys.executable,
            "-m",
            "proxy",
            "--hostname", HOST,
            "--port", "0",
            "--port-file", str(port_file),
            "--num-workers", "1",
            "--num-acceptors", "1",
            "--log-level", "info",
            "--log-file", str(log),
            "--data-dir", str(directory / "data"),
            "--pid-file", str(directory / "proxy.pid"),
        ]  # fmt: skip
        if username is not None:
            # On the command line of a local test process only: a throwaway
            # credential made up by the test.
            argv += ["--basic-auth", f"{username}:{password or ''}"]
        env = dict(os.environ)
        env.pop("PYTHONWARNINGS", None)
        env.pop("PYTHONDEVMODE", None)
        with running(argv, log=directory / "stdout.log", env=env) as process:

            def ready() -> bool:
                try:
                    text = port_file.read_text().split()
                except OSError:
                    return False
                return bool(text) and port_accepts(int(text[0]))

            wait_until(ready, process=process, what="proxy.py", log=[log, directory / "stdout.log"])
            yield ProxyPeer(
                port=int(port_file.read_text().split()[0]),
                pid=process.pid,
                log=log,
                username=username,
                password=password,
            )
