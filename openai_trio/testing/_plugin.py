"""The pytest plugin (entry point ``openai_trio``): fake server, cassette and
fault plan fixtures.

Every fixture is synchronous, so it serves plain tests that call
``trio.run`` themselves, pytest-trio tests and any other async runner
alike: the fake server runs on a thread of its own, with its own trio loop.

Imports of the client are deferred to the fixtures: pytest loads this
module in every session of a project that has the package installed.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    import openai_trio
    from openai_sansio import CassettePlayer

    from ._faults import FaultPlan
    from ._server import FakeServer

__all__ = ["CassetteFixture", "openai_cassette", "openai_fake_server", "openai_fault_plan"]

_MARKER = "openai_cassette"
_REPLAY_KEY = "sk-replayed-cassette"
_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openai_trio")
    group.addoption(
        "--openai-record",
        action="store_true",
        default=False,
        help="openai_cassette records real traffic (needs OPENAI_API_KEY) instead of replaying",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(name=None, volatile=(), allow_reuse=False, timings=False): "
        "options of the openai_cassette fixture",
    )


@pytest.fixture
def openai_fake_server() -> Iterator[FakeServer]:
    """A running ``FakeServer`` on 127.0.0.1 (``.base_url``, ``.enqueue``,
    ``.requests``), served from a background thread."""
    from ._server import FakeServer
    from ._thread import run_fake_server_in_thread

    server = FakeServer()
    with run_fake_server_in_thread(server):
        yield server


class CassetteFixture:
    """What ``openai_cassette`` hands a test.

    ``recording`` says whether real traffic is being recorded (with
    ``--openai-record`` and ``OPENAI_API_KEY`` set) or the cassette at
    ``path`` replayed.  :meth:`client` makes a client wired to it;
    :attr:`connector` is the connector itself, :meth:`player` a
    ``CassettePlayer`` for drivers that are not trio.
    """

    def __init__(self, path: pathlib.Path, *, recording: bool, options: dict[str, Any]) -> None:
        from openai_trio import TCPConnector

        from ._cassette import Recorder, Replayer

        self.path = path
        self.recording = recording
        self._options = options
        self.api_key = os.environ.get("OPENAI_API_KEY", "") if recording else _REPLAY_KEY
        self.base_url = (os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL) if recording else _DEFAULT_BASE_URL
        self.connector: Recorder | Replayer
        if recording:
            self.connector = Recorder(
                TCPConnector(http2=False),
                path,
                record_timings=bool(options.get("timings", False)),
                secrets=[self.api_key],
            )
        else:
            self.connector = Replayer(
                path,
                timings=bool(options.get("timings", False)),
                volatile=options.get("volatile", ()),
                allow_reuse=bool(options.get("allow_reuse", False)),
                miss_hint="to record it, run pytest --openai-record with OPENAI_API_KEY set",
            )

    def __repr__(self) -> str:
        return f"<CassetteFixture {'recording' if self.recording else 'replaying'} {self.path.name}>"

    def client(self, **kwargs: Any) -> openai_trio.Client:
        """An ``openai_trio.Client`` on this cassette (HTTP/1.1: cassettes
        hold HTTP/1.1 exchanges); keyword arguments go to the client."""
        import openai_trio

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("http2", False)
        return openai_trio.Client(connector=self.connector, **kwargs)

    def player(self) -> CassettePlayer:
        """A fresh core player of the cassette file, for the blocking and
        asyncio drivers."""
        from openai_sansio import Cassette, CassettePlayer, loads_cassette

        try:
            cassette = loads_cassette(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            cassette = Cassette()
        return CassettePlayer(
            cassette,
            volatile=self._options.get("volatile", ()),
            allow_reuse=bool(self._options.get("allow_reuse", False)),
        )


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "cassette"


@pytest.fixture
def openai_cassette(request: pytest.FixtureRequest) -> CassetteFixture:
    """The test's cassette, ``cassettes/<test name>.jsonl`` next to its file.

    With ``--openai-record`` and ``OPENAI_API_KEY`` set, real traffic is
    recorded to it (the file started afresh); otherwise it is replayed and
    a request with no recording fails the call with ``CassetteMiss``.
    Options come from ``@pytest.mark.openai_cassette(...)``.
    """
    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    name = options.pop("name", None) or request.node.name
    path = pathlib.Path(request.node.path).parent / "cassettes" / f"{_file_name(name)}.jsonl"
    recording = bool(request.config.getoption("--openai-record")) and bool(os.environ.get("OPENAI_API_KEY"))
    return CassetteFixture(path, recording=recording, options=options)


@pytest.fixture
def openai_fault_plan(openai_fake_server: FakeServer) -> Any:
    """Installs a fault plan on ``openai_fake_server``: call it with
    ``FaultPlan``'s arguments (``openai_fault_plan([RateLimited(), None])``)
    and get the plan back."""
    from ._faults import FaultPlan

    def install(*args: Any, **kwargs: Any) -> FaultPlan:
        plan = FaultPlan(*args, **kwargs)
        openai_fake_server.fault_plan = plan
        return plan

    return install
