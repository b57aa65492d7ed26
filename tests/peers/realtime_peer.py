"""The scripted Realtime server (``peers.realtime_server``, on the
``websockets`` library) as a subprocess, over ws and wss."""

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

__all__ = ["WEBSOCKETS_INSTALL_HINT", "RealtimePeer", "run_realtime"]

WEBSOCKETS_INSTALL_HINT = "install the test extra: `pip install -e '.[test]'` (tools/test.sh does)"

HOST = "127.0.0.1"
_TESTS = pathlib.Path(__file__).resolve().parent.parent


@attrs.frozen
class RealtimePeer:
    ws_port: int
    wss_port: int
    certs: PeerCerts
    pid: int
    log: pathlib.Path
    host: str = HOST

    @property
    def ca_file(self) -> pathlib.Path:
        return self.certs.ca_file

    @property
    def ws_base_url(self) -> str:
        """An ``http://`` base URL: a client makes ``ws://`` of it."""
        return f"http://{self.host}:{self.ws_port}/v1"

    @property
    def wss_base_url(self) -> str:
        return f"https://{self.host}:{self.wss_port}/v1"


def _answers(port: int) -> bool:
    # A plain GET is refused with an HTTP answer (426) once the server
    # serves the socket; a bare accept would not prove that.
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"GET /v1/realtime HTTP/1.1\r\nhost: peer\r\nconnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


@contextlib.contextmanager
def run_realtime(certs: PeerCerts) -> Iterator[RealtimePeer]:
    """Start the server and stop it on exit.  Raises ``PeerMissing``
    without ``websockets`` and ``PeerStartError`` when it does not come up."""
    if importlib.util.find_spec("websockets") is None:
        raise PeerMissing(f"websockets is not installed: {WEBSOCKETS_INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="peer-realtime-") as tmp:
        directory = pathlib.Path(tmp)
        ports_file = directory / "ports.json"
        log = directory / "realtime.log"
        argv = [
            sys.executable,
            "-m",
            "peers.realtime_server",
            str(ports_file),
            str(certs.cert_file),
            str(certs.key_file),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_TESTS), env.get("PYTHONPATH")]))
        # The test run's warning filters (-X dev, -W error) are not the peer's.
        env.pop("PYTHONWARNINGS", None)
        env.pop("PYTHONDEVMODE", None)
        with running(argv, log=log, env=env) as process:
            wait_until(ports_file.exists, process=process, what="the Realtime peer", log=log)
            ports = json.loads(ports_file.read_text())
            wait_until(lambda: _answers(ports["ws"]), process=process, what="the Realtime peer", log=log)
            yield RealtimePeer(
                ws_port=ports["ws"], wss_port=ports["wss"], certs=certs, pid=process.pid, log=log
            )
