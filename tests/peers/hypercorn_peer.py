"""hypercorn serving ``peers.asgi_app`` over TLS (ALPN h2, http/1.1) and
h2c with prior knowledge, as a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pathlib
import socket
import sys
import tempfile
from typing import Iterator

import attrs

from ._process import PeerMissing, running, wait_until
from .certs import PeerCerts

__all__ = ["HYPERCORN_INSTALL_HINT", "HypercornOptions", "HypercornPeer", "run_hypercorn"]

HYPERCORN_INSTALL_HINT = "install the test extra: `pip install -e '.[test]'` (tools/test.sh does)"

HOST = "127.0.0.1"
_TESTS = pathlib.Path(__file__).resolve().parent.parent


@attrs.frozen
class HypercornOptions:
    """``max_concurrent_streams`` is what hypercorn advertises in SETTINGS.
    ``keep_alive_max_requests`` closes an HTTP/1.1 connection after that
    many requests; hypercorn 0.18 never counts HTTP/2 requests, so for a
    GOAWAY after N requests use nginx's ``keepalive_requests``."""

    max_concurrent_streams: int = 100
    keep_alive_max_requests: int = 1000


@attrs.frozen
class HypercornPeer:
    tls_port: int
    h2c_port: int
    certs: PeerCerts
    options: HypercornOptions
    pid: int
    log: pathlib.Path
    host: str = HOST

    @property
    def ca_file(self) -> pathlib.Path:
        return self.certs.ca_file

    @property
    def tls_base_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}/v1"

    @property
    def h2c_base_url(self) -> str:
        return f"http://{self.host}:{self.h2c_port}/v1"


def _healthy(port: int) -> bool:
    # A listening socket accepts before hypercorn serves it (it was bound
    # by the launcher), so ask for an answer rather than a connection.
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: peer\r\nconnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextlib.contextmanager
def run_hypercorn(certs: PeerCerts, options: HypercornOptions | None = None) -> Iterator[HypercornPeer]:
    """Start hypercorn and stop it on exit.  Raises ``PeerMissing``
    without hypercorn and ``PeerStartError`` when it does not come up."""
    if importlib.util.find_spec("hypercorn") is None:
        raise PeerMissing(f"hypercorn is not installed: {HYPERCORN_INSTALL_HINT}")
    options = HypercornOptions() if options is None else options
    with tempfile.TemporaryDirectory(prefix="peer-hypercorn-") as tmp:
        directory = pathlib.Path(tmp)
        ports_file = directory / "ports.json"
        log = directory / "hypercorn.log"
        argv = [
            sys.executable,
            "-m",
            "peers._hypercorn_main",
            str(ports_file),
            str(certs.cert_file),
            str(certs.key_file),
            f"--h2-max-concurrent-streams={options.max_concurrent_streams}",
            f"--keep-alive-max-requests={options.keep_alive_max_requests}",
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_TESTS), env.get("PYTHONPATH")]))
        # The launcher must not inherit the test run's warning filters as
        # errors (-X dev, -W error): hypercorn's own deprecations are not ours.
        env.pop("PYTHONWARNINGS", None)
        env.pop("PYTHONDEVMODE", None)
        with running(argv, log=log, env=env) as process:
            wait_until(ports_file.exists, process=process, what="hypercorn", log=log)
            ports = json.loads(ports_file.read_text())
            wait_until(lambda: _healthy(ports["h2c"]), process=process, what="hypercorn", log=log)
            yield HypercornPeer(
                tls_port=ports["tls"],
                h2c_port=ports["h2c"],
                certs=certs,
                options=options,
                pid=process.pid,
                log=log,
            )
