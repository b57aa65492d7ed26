"""A minimal blocking HTTP/2 client on the ``h2`` library, to check what
the peers themselves do (ALPN, SETTINGS, GOAWAY, resets) independently of
the project's own HTTP/2 code."""

from __future__ import annotations

import socket
import ssl
from typing import Any, Callable, Sequence

import attrs
import h2.config
import h2.connection
import h2.events

__all__ = ["H2Answer", "H2Probe", "probe"]


class _Connection(h2.connection.H2Connection):
    """h2 closes its whole state machine on a received GOAWAY and then
    refuses the frames of the streams the GOAWAY let finish (nginx sends
    its GOAWAY before the answer to the last request it takes); keep the
    state as it was so those answers can still be read."""

    def _receive_goaway_frame(self, frame: Any) -> Any:
        state = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        self.state_machine.state = state
        return result


@attrs.define
class H2Answer:
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    reset: int | None = None
    complete: bool = False

    def finished(self) -> bool:
        return self.complete or self.reset is not None


@attrs.define
class H2Probe:
    """What one connection saw: the server's SETTINGS, the answers by
    request (in order sent), and the GOAWAY if one came."""

    alpn: str | None
    settings: dict[int, int]
    answers: list[H2Answer]
    goaway_last_stream: int | None = None
    goaway_error: int | None = None


def probe(
    port: int,
    paths: Sequence[str],
    *,
    context: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    timeout: float = 5.0,
) -> H2Probe:
    """GET each of ``paths`` in turn (each answered before the next goes),
    stopping at a GOAWAY; over TLS with ``context`` (offering h2), else
    h2c with prior knowledge."""
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket = raw
    alpn = None
    try:
        if context is not None:
            sock = context.wrap_socket(raw, server_hostname=host)
            alpn = sock.selected_alpn_protocol()
        conn = _Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        result = H2Probe(alpn=alpn, settings={}, answers=[])
        by_stream: dict[int, H2Answer] = {}

        def handle(event: object) -> None:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                result.settings.update({int(k): v.new_value for k, v in event.changed_settings.items()})
            elif isinstance(event, h2.events.ResponseReceived):
                answer = by_stream[event.stream_id]
                answer.headers = {k.decode(): v.decode() for k, v in event.headers}
                answer.status = int(answer.headers[":status"])
            elif isinstance(event, h2.events.DataReceived):
                by_stream[event.stream_id].body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                by_stream[event.stream_id].complete = True
            elif isinstance(event, h2.events.StreamReset):
                by_stream[event.stream_id].reset = int(event.error_code or 0)
            elif isinstance(event, h2.events.ConnectionTerminated):
                result.goaway_last_stream = event.last_stream_id
                result.goaway_error = int(event.error_code or 0)

        def send() -> bool:
            # A peer that hung up has said all it will: what it sent is read.
            try:
                sock.sendall(conn.data_to_send())
            except (BrokenPipeError, ConnectionResetError):
                return False
            return True

        def pump(done: Callable[[], bool]) -> None:
            # Until ``done`` or the peer's end of file (after a GOAWAY the
            # peer finishes the streams it took, then hangs up).
            while not done():
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return
                for event in conn.receive_data(data):
                    handle(event)
                if not send():
                    return

        pump(lambda: bool(result.settings))
        for path in paths:
            if result.goaway_last_stream is not None:
                break
            stream_id = conn.get_next_available_stream_id()
            answer = by_stream[stream_id] = H2Answer()
            result.answers.append(answer)
            conn.send_headers(
                stream_id,
                [(":method", "GET"), (":scheme", "https" if context else "http"),
                 (":authority", f"{host}:{port}"), (":path", path)],
                end_stream=True,
            )  # fmt: skip
            if not send():
                break
            pump(answer.finished)
        return result
    finally:
        sock.close()
