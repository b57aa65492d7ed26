"""Recording real traffic to a cassette, and replaying it, as trio connectors.

Both are connectors (``async (origin) -> trio.abc.Stream``) for a client's
``connector=`` argument.  The cassette format, the parsing of requests and
the matching are the core's (``openai_sansio.CassettePlayer``,
``ExchangeRecorder``); this module moves the bytes, keeps trio's time and
writes the file.

Why HTTP/1.1 only: a cassette holds each exchange as the bytes the server
sent for it.  On HTTP/2 those bytes are frames of a whole connection,
streams interleaved and headers compressed against state shared by every
request on it, so one exchange's bytes mean nothing alone.  The recorder
therefore makes its inner connector offer http/1.1 only, and refuses a
connection that still negotiated h2.
"""

from __future__ import annotations

import os
import pathlib
from typing import Awaitable, Callable, Iterable, Literal, Mapping

import trio

from openai_sansio import (
    Cassette,
    CassetteError,
    CassetteMiss,
    CassettePlayer,
    ExchangeRecorder,
    Origin,
    RecordedExchange,
    ReplayConnection,
    cassette_exchange_line,
    cassette_header_line,
    loads_cassette,
)

__all__ = ["Recorder", "Replayer", "record_connector", "replay_connector", "ReplayMode"]

Connector = Callable[[Origin], Awaitable[trio.abc.Stream]]
ReplayMode = Literal["replay_only", "new_episodes"]
_MODES = ("replay_only", "new_episodes")


def _as_path(value: object) -> pathlib.Path | None:
    if isinstance(value, (str, os.PathLike)):
        return pathlib.Path(value)
    return None


def _http11_only(connector: Connector) -> None:
    from .._tls import TCPConnector

    # The client sets ``http2`` only on a TCPConnector it is handed
    # directly; one wrapped in a recorder is ours to set.
    if isinstance(connector, TCPConnector):
        connector.http2 = False


def _check_stream(stream: trio.abc.Stream) -> None:
    from .._proxy import ForwardingStream

    if isinstance(stream, trio.SSLStream) and stream.selected_alpn_protocol() == "h2":
        raise CassetteError(
            "the connection negotiated HTTP/2; cassettes hold HTTP/1.1 exchanges: "
            "give the recorded connector http2=False (a TCPConnector gets it automatically)"
        )
    if type(stream) is ForwardingStream:
        raise CassetteError("requests forwarded through an HTTP proxy cannot be recorded; connect directly")


class _CassetteFile:
    """Appends each exchange to the file as it completes, so a crash keeps
    everything recorded before it."""

    def __init__(self, path: pathlib.Path, *, start: Cassette | None, meta: Mapping[str, object]) -> None:
        self.path = path
        if start is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(cassette_header_line(meta), encoding="utf-8")

    def append(self, exchange: RecordedExchange) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(cassette_exchange_line(exchange))


class _RecordingStream(trio.abc.Stream):
    """Passes bytes through to ``inner`` and records them as they go."""

    def __init__(
        self, inner: trio.abc.Stream, recorder: ExchangeRecorder, sink: Callable[[list[RecordedExchange]], None]
    ) -> None:
        self._inner = inner
        self._recorder = recorder
        self._sink = sink

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)
        self._sink(self._recorder.request_data(bytes(data), trio.current_time()))

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self._inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, OSError):
            self._sink(self._recorder.transport_failed(trio.current_time()))
            raise
        self._sink(self._recorder.response_data(bytes(data), trio.current_time()))
        return data

    async def aclose(self) -> None:
        try:
            self._sink(self._recorder.close())
        finally:
            await self._inner.aclose()


class Recorder:
    """A connector that records what goes through ``inner`` to a cassette.

    ``cassette``: a path (the file is started afresh and each exchange
    appended as it completes), a ``Cassette`` to add to in memory, or None
    (in memory only).  :attr:`cassette` holds everything recorded so far.
    ``record_timings`` keeps the seconds before each chunk arrived, on
    trio's clock.  ``secrets``: values scrubbed wherever they appear (the
    credential headers the client sends are scrubbed in any case).
    """

    def __init__(
        self,
        inner: Connector,
        cassette: str | os.PathLike[str] | Cassette | None = None,
        *,
        record_timings: bool = False,
        secrets: Iterable[str] = (),
        meta: Mapping[str, object] | None = None,
        _append_to: Cassette | None = None,
    ) -> None:
        if not callable(inner):
            raise TypeError(f"inner must be a connector (async callable), not {type(inner).__name__}")
        _http11_only(inner)
        self._inner = inner
        self._timings = record_timings
        self._secrets = tuple(secrets)
        self._file: _CassetteFile | None = None
        path = _as_path(cassette)
        if path is not None:
            start = _append_to
            self._cassette = start if start is not None else Cassette(meta=dict(meta or {}))
            self._file = _CassetteFile(path, start=start, meta=dict(meta or {}))
        elif isinstance(cassette, Cassette):
            self._cassette = cassette
        elif cassette is None:
            self._cassette = Cassette(meta=dict(meta or {}))
        else:
            raise TypeError(f"cassette must be a path or a Cassette, not {type(cassette).__name__}")

    def __repr__(self) -> str:
        where = f" {self._file.path}" if self._file is not None else ""
        return f"<Recorder{where} exchanges={len(self._cassette)}>"

    @property
    def cassette(self) -> Cassette:
        return self._cassette

    @property
    def path(self) -> pathlib.Path | None:
        return None if self._file is None else self._file.path

    def _store(self, exchanges: list[RecordedExchange]) -> None:
        for exchange in exchanges:
            self._cassette = self._cassette.append(exchange)
            if self._file is not None:
                self._file.append(exchange)

    def wrap(self, stream: trio.abc.Stream) -> trio.abc.Stream:
        """Record the traffic of an already open ``stream``."""
        recorder = ExchangeRecorder(secrets=self._secrets, timings=self._timings)
        return _RecordingStream(stream, recorder, self._store)

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        stream = await self._inner(origin)
        try:
            _check_stream(stream)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return self.wrap(stream)


def record_connector(
    inner: Connector,
    cassette: str | os.PathLike[str] | Cassette | None = None,
    record_timings: bool = False,
    *,
    secrets: Iterable[str] = (),
) -> Recorder:
    """A :class:`Recorder` over ``inner`` (see there)."""
    return Recorder(inner, cassette, record_timings=record_timings, secrets=secrets)


class _ReplayStream(trio.abc.Stream):
    """Serves recorded chunks, one per ``receive_some``, for the requests
    the client writes; in ``new_episodes`` mode a missed request and the
    rest of the connection go to a live, recorded connection instead."""

    def __init__(self, replayer: Replayer, conn: ReplayConnection, origin: Origin) -> None:
        self._replayer = replayer
        self._conn = conn
        self._origin = origin
        self._rest = b""
        self._live: trio.abc.Stream | None = None
        self._closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")
        if self._live is not None:
            await self._live.send_all(data)
            return
        await trio.lowlevel.checkpoint()
        try:
            self._conn.receive_data(bytes(data))
        except CassetteMiss as miss:
            live = await self._replayer._go_live(self._origin, miss)
            self._live = live
            await live.send_all(self._conn.take_unanswered())

    async def wait_send_all_might_not_block(self) -> None:
        if self._live is not None:
            await self._live.wait_send_all_might_not_block()
        else:
            await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")
        if self._live is not None:
            return await self._live.receive_some(max_bytes)
        if self._rest:
            data = self._rest
        else:
            chunk = self._conn.next_chunk()
            if chunk is None:
                # Nothing recorded beyond this point: the end of the stream
                # (never a hang).
                await trio.lowlevel.checkpoint()
                return b""
            if self._replayer.timings and chunk.delay > 0:
                await trio.sleep(chunk.delay)
            else:
                await trio.lowlevel.checkpoint()
            if chunk.reset:
                raise trio.BrokenResourceError("the recorded connection failed here")
            data = chunk.data
        if max_bytes is not None and len(data) > max_bytes:
            self._rest = data[max_bytes:]
            return data[:max_bytes]
        self._rest = b""
        return data

    async def aclose(self) -> None:
        self._closed = True
        if self._live is not None:
            await self._live.aclose()
        else:
            await trio.lowlevel.checkpoint()


class Replayer:
    """A connector whose connections are answered from a cassette.

    See :func:`replay_connector`.  :attr:`player` is the core's
    ``CassettePlayer`` (``player.played``, ``player.unplayed``).
    """

    def __init__(
        self,
        cassette: str | os.PathLike[str] | Cassette | CassettePlayer,
        *,
        mode: ReplayMode = "replay_only",
        timings: bool = False,
        volatile: Iterable[str] = (),
        allow_reuse: bool = False,
        match_headers: Iterable[str] = (),
        secrets: Iterable[str] = (),
        inner: Connector | None = None,
        record_timings: bool = False,
        miss_hint: str = "",
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if mode == "new_episodes" and inner is None:
            raise ValueError("mode='new_episodes' needs inner=, the connector new requests go to")
        self.mode = mode
        self.timings = timings
        self._hint = miss_hint
        self.path = _as_path(cassette)
        self._missing = False
        if isinstance(cassette, CassettePlayer):
            self.player = cassette
        else:
            if self.path is not None:
                try:
                    text = self.path.read_text(encoding="utf-8")
                except FileNotFoundError:
                    self._missing = True
                    loaded = Cassette()
                else:
                    loaded = loads_cassette(text)
            elif isinstance(cassette, Cassette):
                loaded = cassette
            else:
                raise TypeError(f"cassette must be a path, a Cassette or a CassettePlayer, not {type(cassette).__name__}")
            self.player = CassettePlayer(
                loaded, allow_reuse=allow_reuse, volatile=volatile, match_headers=match_headers, secrets=secrets
            )
        self._recorder: Recorder | None = None
        if mode == "new_episodes":
            assert inner is not None
            target: str | os.PathLike[str] | Cassette | None = self.path
            if self.path is None:
                target = self.player.cassette
            self._recorder = Recorder(
                inner,
                target,
                record_timings=record_timings,
                secrets=secrets,
                _append_to=None if self._missing else self.player.cassette,
            )

    def __repr__(self) -> str:
        return f"<Replayer {self.mode} played={len(self.player.played)} of {len(self.player.cassette)}>"

    @property
    def recorder(self) -> Recorder | None:
        """In ``new_episodes`` mode, what recorded the requests that missed."""
        return self._recorder

    async def _go_live(self, origin: Origin, miss: CassetteMiss) -> trio.abc.Stream:
        if self._recorder is None:
            if self._missing or self._hint:
                extra = f"no cassette at {self.path}" if self._missing else ""
                hint = "; ".join(p for p in (extra, self._hint) if p)
                raise CassetteMiss(
                    miss.method, miss.target, miss.closest, miss.differences, f"{miss} ({hint})"
                ) from None
            raise miss
        return await self._recorder(origin)

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        return _ReplayStream(self, self.player.connection(), origin)


def replay_connector(
    cassette: str | os.PathLike[str] | Cassette | CassettePlayer,
    mode: ReplayMode = "replay_only",
    timings: bool = False,
    volatile: Iterable[str] = (),
    *,
    allow_reuse: bool = False,
    match_headers: Iterable[str] = (),
    secrets: Iterable[str] = (),
    inner: Connector | None = None,
) -> Replayer:
    """A connector answering every request from ``cassette``.

    Each request is parsed as it is written and answered by the first
    unused recording with the same method, target and body (JSON compared
    as data, ``volatile`` dotted paths ignored), its bytes served with the
    recorded split points: one chunk per ``receive_some``.  ``timings``
    sleeps the recorded delays with ``trio.sleep`` (so a ``MockClock``
    drives them).  ``allow_reuse`` lets a recording answer again.

    ``mode="replay_only"``: a request with no recording fails the call with
    ``openai_sansio.CassetteMiss``, naming the request and the closest
    recording.  ``mode="new_episodes"``: it goes to ``inner`` instead, and
    is recorded onto the cassette (the file, when a path was given).
    """
    return Replayer(
        cassette,
        mode=mode,
        timings=timings,
        volatile=volatile,
        allow_reuse=allow_reuse,
        match_headers=match_headers,
        secrets=secrets,
        inner=inner,
    )
