"""pytest fixtures for the protocol peers (wired in by tests/conftest.py).

Session-scoped, started on first use: ``peer_upstream`` (the project's fake
server on a thread), ``peer_certs``, ``nginx_peer``, ``hypercorn_peer``,
``proxy_peer``, ``auth_proxy_peer`` and ``realtime_peer`` (a scripted
Realtime server on the ``websockets`` library, ws and wss).  ``start_nginx``,
``start_hypercorn`` and ``start_proxy`` make more instances with other
settings, for a ``with`` block in one test.

A peer that is not installed fails the test with how to install it: these
tests are meant to run in CI, never to be skipped quietly.
"""

from __future__ import annotations

import contextlib
import pathlib
import secrets
from typing import Any, Callable, ContextManager, Iterator, TypeVar

import attrs
import pytest

from openai_trio.testing import FakeServer, run_fake_server_in_thread

from ._process import PeerMissing
from .certs import PeerCerts, make_certs
from .hypercorn_peer import HypercornOptions, HypercornPeer, run_hypercorn
from .nginx_peer import NginxOptions, NginxPeer, run_nginx
from .proxy_peer import ProxyPeer, run_proxy
from .realtime_peer import RealtimePeer, run_realtime

__all__ = [
    "PROXY_USERNAME",
    "StartHypercorn",
    "StartNginx",
    "StartProxy",
    "Upstream",
    "auth_proxy_peer",
    "hypercorn_peer",
    "nginx_peer",
    "peer_certs",
    "peer_upstream",
    "proxy_peer",
    "realtime_peer",
    "start_hypercorn",
    "start_nginx",
    "start_proxy",
]

T = TypeVar("T")

#: The factory fixtures' types, for annotating a test's arguments.
StartNginx = Callable[..., ContextManager[NginxPeer]]
StartHypercorn = Callable[..., ContextManager[HypercornPeer]]
StartProxy = Callable[..., ContextManager[ProxyPeer]]

PROXY_USERNAME = "peer-user"

# Uploads through nginx are a few MiB; the fake server's default cap is 8.
_UPSTREAM_MAX_BODY = 64 * 1024 * 1024


@attrs.frozen
class Upstream:
    """The fake OpenAI server nginx proxies to; ``server`` is live (read
    ``server.openai.files``, ``server.requests``), shared by the session."""

    server: FakeServer
    base_url: str
    host: str
    port: int


@contextlib.contextmanager
def _installed(manager: ContextManager[T]) -> Iterator[T]:
    # A missing peer is a broken setup, not a reason to skip.
    with contextlib.ExitStack() as stack:
        try:
            entered = stack.enter_context(manager)
        except PeerMissing as exc:
            pytest.fail(f"protocol peer missing: {exc}", pytrace=False)
        yield entered


@pytest.fixture(scope="session")
def peer_certs(tmp_path_factory: pytest.TempPathFactory) -> PeerCerts:
    return make_certs(pathlib.Path(tmp_path_factory.mktemp("peer-certs")))


@pytest.fixture(scope="session")
def peer_upstream() -> Iterator[Upstream]:
    server = FakeServer(max_body_size=_UPSTREAM_MAX_BODY)
    with run_fake_server_in_thread(server) as base_url:
        assert server.host is not None and server.port is not None
        yield Upstream(server=server, base_url=base_url, host=server.host, port=server.port)


@pytest.fixture(scope="session")
def start_nginx(peer_upstream: Upstream, peer_certs: PeerCerts) -> StartNginx:
    """``with start_nginx(max_concurrent_streams=2, keepalive_requests=5) as
    peer:`` — any ``NginxOptions`` field; ``upstream=(host, port)`` fronts
    another server than ``peer_upstream``."""

    def start(*, upstream: tuple[str, int] | None = None, **options: Any) -> ContextManager[NginxPeer]:
        target = (peer_upstream.host, peer_upstream.port) if upstream is None else upstream
        return _installed(run_nginx(target, peer_certs, NginxOptions(**options)))

    return start


@pytest.fixture(scope="session")
def nginx_peer(start_nginx: StartNginx) -> Iterator[NginxPeer]:
    with start_nginx() as peer:
        yield peer


@pytest.fixture(scope="session")
def start_hypercorn(peer_certs: PeerCerts) -> StartHypercorn:
    """``with start_hypercorn(max_concurrent_streams=2) as peer:`` — any
    ``HypercornOptions`` field."""

    def start(**options: Any) -> ContextManager[HypercornPeer]:
        return _installed(run_hypercorn(peer_certs, HypercornOptions(**options)))

    return start


@pytest.fixture(scope="session")
def hypercorn_peer(start_hypercorn: StartHypercorn) -> Iterator[HypercornPeer]:
    with start_hypercorn() as peer:
        yield peer


@pytest.fixture(scope="session")
def start_proxy() -> StartProxy:
    """``with start_proxy(username="u", password="p") as proxy:``."""

    def start(*, username: str | None = None, password: str | None = None) -> ContextManager[ProxyPeer]:
        return _installed(run_proxy(username=username, password=password))

    return start


@pytest.fixture(scope="session")
def proxy_peer(start_proxy: StartProxy) -> Iterator[ProxyPeer]:
    with start_proxy() as proxy:
        yield proxy


@pytest.fixture(scope="session")
def auth_proxy_peer(start_proxy: StartProxy) -> Iterator[ProxyPeer]:
    """A proxy that wants Basic credentials: ``PROXY_USERNAME`` and a
    password made up for the session (``auth_proxy_peer.password``)."""
    with start_proxy(username=PROXY_USERNAME, password=secrets.token_urlsafe(12)) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def realtime_peer(peer_certs: PeerCerts) -> Iterator[RealtimePeer]:
    with _installed(run_realtime(peer_certs)) as peer:
        yield peer
