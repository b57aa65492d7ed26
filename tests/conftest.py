"""Test harness: run ``async def`` tests under ``trio.run``.

A test that takes an ``autojump_clock`` argument runs on a
``trio.testing.MockClock(autojump_threshold=0)`` so timeouts and backoff
sleeps pass instantly and deterministically.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any

import pytest
import trio
import trio.testing


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in argnames}
    clock = kwargs.get("autojump_clock")
    trio.run(functools.partial(func, **kwargs), clock=clock)
    return True


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # The conformance counts (valid pass, invalid pass), when those tests ran.
    module = sys.modules.get("test_conformance")
    lines = module.summary() if module is not None else []
    if lines:
        terminalreporter.section("conformance against Prism")
        for line in lines:
            terminalreporter.write_line(line)


# The protocol peers (nginx, hypercorn, proxy.py): see tests/peers/.
from peers.fixtures import (  # noqa: E402, F401
    auth_proxy_peer,
    hypercorn_peer,
    nginx_peer,
    peer_certs,
    peer_upstream,
    proxy_peer,
    realtime_peer,
    start_hypercorn,
    start_nginx,
    start_proxy,
)
