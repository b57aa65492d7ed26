"""The life of one call, from the first request to a result or an error, as
a machine that tells its runtime what to do next.

A runtime (the trio client, the blocking and asyncio drivers) feeds it what
happened (a response head, a body, a transport failure) and gets back one
action: send this request, read the body up to so many bytes, hand this
stream to the caller, sleep and try again, raise this, or done.  Every
decision that used to live in each runtime's retry loop is made here: what
counts as success, how much of a body is read, which responses leave the
connection reusable, what is retried and when, and whether a request that
met a dead connection is simply sent again.

Like the rest of the core it never reads a clock or a random source: the
runtime passes the wall-clock time, a jitter value and the time spent so far
with the events that need them.  The per-attempt details (the request, the
retry policy, error decoding, parsing) stay with the wrapped ``Call``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Final, Literal, Mapping, Union

import attrs

from ._call import _SHOWN_BODY_CHARS, Call
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    LocalProtocolError,
    UnexpectedContentTypeError,
)
from ._redact import drop_frames
from ._request import Request
from ._streaming import StreamDecoder
from ._tunnel import ProxyError

if TYPE_CHECKING:
    from ._config import ClientConfig
    from ._prepared import PreparedOperation

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_UNPROCESSED_RESENDS",
    "MAX_ERROR_BODY_BYTES",
    "RESPONSE_KINDS",
    "ResponseKind",
    "CallLifecycle",
    "lifecycle_for",
    "Action",
    "SendRequest",
    "ReadBody",
    "StartStream",
    "StreamBody",
    "Retry",
    "Raise",
    "Done",
]

# A request the server did not process (HTTP/2 REFUSED_STREAM, or left out
# of a GOAWAY) is sent again without spending a retry: it never ran.  A
# server that sends GOAWAY every few dozen streams can refuse one request
# several times while a burst drains, so the bound is generous; it only
# stops a server that refuses everything from looping forever.
MAX_UNPROCESSED_RESENDS: Final = 32

# A successful body larger than this is refused rather than buffered.
MAX_BODY_BYTES: Final = 256 * 1024 * 1024
# Error bodies (and bodies that are ignored) are only read this far: enough
# for any JSON error object.
MAX_ERROR_BODY_BYTES: Final = 1024 * 1024

# Methods that do not change anything on the server: sending one twice is
# harmless.  (PUT and DELETE are idempotent in HTTP terms, but a repeated
# DELETE answers 404 to a call that succeeded.)
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

ResponseKind = Literal["json", "binary", "empty", "stream"]
RESPONSE_KINDS: Final = frozenset({"json", "binary", "empty", "stream"})


@attrs.frozen
class SendRequest:
    """Send ``request`` and wait for its response head.

    ``fresh_connection`` asks for a newly opened connection rather than an
    idle one from a pool: the previous send met a connection the peer had
    already closed.
    """

    request: Request
    fresh_connection: bool = False


@attrs.frozen
class ReadBody:
    """Read the response body, at most ``max_bytes`` of it.

    Stop once past the cap and report the body as truncated; the rest was
    never read, so that connection cannot carry another request.
    """

    max_bytes: int


@attrs.frozen
class StartStream:
    """Hand the open event stream to the caller, decoded by ``decoder``.

    The call is over as far as retries go: a failure from here on is the
    caller's to see.
    """

    decoder: StreamDecoder[Any]


@attrs.frozen
class StreamBody:
    """Hand the open body to the caller as raw bytes, read as it arrives."""


@attrs.frozen
class Retry:
    """Sleep ``delay`` seconds, then call ``start()`` for the next attempt.

    ``error`` is what failed (for a log line).  ``keep_connection`` says
    whether the connection the failed response came on may carry another
    request; it is never true after a transport failure.
    """

    delay: float
    error: APIError
    keep_connection: bool = False


@attrs.frozen
class Raise:
    """The call failed: raise ``error``.  ``keep_connection`` as for ``Retry``."""

    error: APIError
    keep_connection: bool = False


@attrs.frozen
class Done:
    """The call succeeded with ``result``: the parsed model (``"json"``), the
    body bytes (``"binary"``) or None (``"empty"``).  ``keep_connection``
    as for ``Retry``."""

    result: Any
    keep_connection: bool = True


Action = Union[SendRequest, ReadBody, StartStream, StreamBody, Retry, Raise, Done]

# Shared: most responses are answered with one of these.
_READ_BODY: Final = ReadBody(MAX_BODY_BYTES)
_READ_SMALL_BODY: Final = ReadBody(MAX_ERROR_BODY_BYTES)
_STREAM_BODY: Final = StreamBody()

# States.  A number, not an enum: checked on every event of every request.
_READY = 0  # start() comes next
_SENT = 1  # a response head or a transport failure comes next
_READING = 2  # a body (or a transport failure) comes next
_FINISHED = 3  # handed off, succeeded or failed for good

_STATE_NAMES: Final = ("ready to send", "waiting for a response head", "reading a body", "finished")

_EVENT_STREAM = "text/event-stream"


def _is_event_stream(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == _EVENT_STREAM


def _cap(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{name} must be a non-negative int, got {value!r}")
    return value


_NO_HEADERS: Final[Mapping[str, str]] = {}


def _identity(value: Any) -> Any:
    return value


class CallLifecycle:
    """Drive one ``Call`` to its end, one action at a time.

    ``response_kind`` says what a successful response holds:

    * ``"json"``: a JSON body, passed through ``parse`` (default: returned
      as decoded);
    * ``"binary"``: raw bytes, read whole (``Done(bytes)``);
    * ``"empty"``: nothing of interest; any body is read (up to a small cap)
      and ignored, and the result is None;
    * ``"stream"``: an event stream, decoded by ``stream_decoder(request)``
      (the call must have been made with ``stream=True``).  A 2xx whose
      content type is not ``text/event-stream`` raises
      ``UnexpectedContentTypeError`` carrying the start of its body.

    With ``stream_body=True`` a 2xx of the first three kinds is handed over
    unread (``StreamBody``) for the caller to read as it likes.

    Success bodies are read up to ``max_body_bytes`` (a longer one is
    refused); error bodies and ignored ones up to ``max_error_body_bytes``.

    The runtime's loop::

        action = lifecycle.start()
        while True:
            if SendRequest: send it; on a transport failure
                action = lifecycle.transport_error(...); else
                action = lifecycle.response_head(status, headers)
            if ReadBody: read up to max_bytes, then
                action = lifecycle.response_body(body, truncated, ...)
            if Retry: sleep, then action = lifecycle.start()
            if StartStream / StreamBody: give the open response to the caller
            if Done: return the result;  if Raise: raise the error

    After ``Done``, ``Retry`` and ``Raise`` that followed a body, release
    the connection (closing it unless ``keep_connection``).  If an event
    method raises (a caller's ``parse`` can), close the connection.
    """

    __slots__ = (
        "_call",
        "_decoder_factory",
        "_fresh_next",
        "_headers",
        "_kind",
        "_parse",
        "_read_body",
        "_read_small_body",
        "_request",
        "_resent",
        "_state",
        "_status",
        "_stream_body",
        "_total",
        "_unprocessed",
    )

    def __init__(
        self,
        call: Call,
        *,
        response_kind: ResponseKind = "json",
        parse: Callable[[Any], Any] | None = None,
        stream_decoder: Callable[[Request], StreamDecoder[Any]] | None = None,
        stream_body: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_error_body_bytes: int = MAX_ERROR_BODY_BYTES,
    ) -> None:
        if type(call) is not Call and not isinstance(call, Call):
            raise LocalProtocolError(f"call must be a Call, not {type(call).__name__}")
        is_stream = response_kind == "stream"
        if is_stream or response_kind != "json":
            # Checked off the hot path: most calls are plain JSON ones.
            if response_kind not in RESPONSE_KINDS:
                raise LocalProtocolError(
                    f"response_kind must be one of {sorted(RESPONSE_KINDS)}, got {response_kind!r}"
                )
            if stream_body and is_stream:
                raise LocalProtocolError("stream_body does not apply to a 'stream' response: it is streamed")
        if is_stream is not call.stream:
            raise LocalProtocolError(
                "a 'stream' response needs a Call made with stream=True, and only it"
            )
        if is_stream is (stream_decoder is None):
            raise LocalProtocolError("stream_decoder is needed for, and only for, a 'stream' response")
        if max_body_bytes == MAX_BODY_BYTES:
            self._read_body = _READ_BODY
        else:
            self._read_body = ReadBody(_cap("max_body_bytes", max_body_bytes))
        if max_error_body_bytes == MAX_ERROR_BODY_BYTES:
            self._read_small_body = _READ_SMALL_BODY
        else:
            self._read_small_body = ReadBody(_cap("max_error_body_bytes", max_error_body_bytes))
        self._call = call
        self._kind = response_kind
        self._parse = _identity if parse is None else parse
        self._decoder_factory = stream_decoder
        self._stream_body = stream_body
        total = call.timeout.total
        self._total = math.inf if total is None else total
        self._state = _READY
        self._status = 0
        self._headers: Mapping[str, str] = _NO_HEADERS
        self._request: Request | None = None
        # A request is sent again on a fresh connection at most once per attempt.
        self._resent = False
        # The next attempt goes out on a newly opened connection.
        self._fresh_next = False
        # Times the server said it did not process the request (HTTP/2).
        self._unprocessed = 0

    @property
    def call(self) -> Call:
        return self._call

    @property
    def response_kind(self) -> ResponseKind:
        return self._kind

    @property
    def finished(self) -> bool:
        return self._state == _FINISHED

    def __repr__(self) -> str:
        return f"<CallLifecycle {self._kind} {_STATE_NAMES[self._state]} {self._call!r}>"

    def _expect(self, *states: int) -> None:
        if self._state not in states:
            raise LocalProtocolError(f"unexpected event: the call is {_STATE_NAMES[self._state]}")

    # -- events ---------------------------------------------------------------

    def start(self) -> SendRequest:
        """The request of the current attempt: at the beginning and after
        each ``Retry``'s sleep."""
        if self._state != _READY:
            self._expect(_READY)
        request = self._call.request()
        self._request = request
        self._resent = False
        self._state = _SENT
        if self._fresh_next:
            self._fresh_next = False
            return SendRequest(request, fresh_connection=True)
        return SendRequest(request)

    def response_head(self, status_code: int, headers: Mapping[str, str]) -> Action:
        """The status and headers (a ``Headers``) of the final response."""
        if self._state != _SENT:
            self._expect(_SENT)
        self._status = status_code
        self._headers = headers
        self._state = _READING
        if not 200 <= status_code < 300:
            return self._read_small_body
        kind = self._kind
        if kind == "json" and not self._stream_body:
            return self._read_body
        if kind == "stream":
            if _is_event_stream(headers.get("content-type")):
                self._state = _FINISHED
                assert self._decoder_factory is not None and self._request is not None
                return StartStream(self._decoder_factory(self._request))
            # Read, so that the error shows what the server said instead.
            return self._read_small_body
        if self._stream_body:
            self._state = _FINISHED
            return _STREAM_BODY
        if kind == "binary":
            return self._read_body
        return self._read_small_body

    def response_body(
        self,
        body: bytes,
        truncated: bool = False,
        *,
        now: float | None = None,
        jitter: float | None = None,
        elapsed: float | None = None,
    ) -> Done | Retry | Raise:
        """The body asked for by ``ReadBody``; ``truncated`` if it was cut
        at the cap.

        For a status that is not 2xx (``response_head`` said which) the
        retry decision needs ``now``, the unix time (for a ``retry-after``
        date), ``jitter``, a uniform random number in [0, 1), and
        ``elapsed``, the seconds since the call started on a monotonic clock
        (checked against the total timeout before any sleep).  A 2xx needs
        none of them, so a runtime need not read its clocks on success.
        """
        if self._state != _READING:
            self._expect(_READING)
        status = self._status
        call = self._call
        if 200 <= status < 300:
            # Whatever happens below, there is no further attempt.
            self._state = _FINISHED
            kind = self._kind
            if kind == "json" or kind == "binary":
                if truncated:
                    return Raise(
                        APIResponseValidationError(
                            f"response body larger than {self._read_body.max_bytes} bytes",
                            status_code=status,
                            request=self._request,
                        )
                    )
                if kind == "binary":
                    return Done(body)
                try:
                    result = call.parse_response(status, self._headers, body, self._parse)
                except APIResponseValidationError as exc:
                    # A 2xx that is not what the API sends (an HTML page from
                    # a proxy, say) means the peer is not the API server we
                    # think: send it nothing else on this connection.  The
                    # parsing frames hold the raw body: they are dropped.
                    return Raise(drop_frames(exc))
                return Done(result)
            if kind == "empty":
                return Done(None, keep_connection=not truncated)
            # Not what the API sends either: as for a body that is not JSON.
            return Raise(self._wrong_content_type(body))
        if now is None or jitter is None or elapsed is None:
            raise LocalProtocolError(
                f"a {status} response needs now=, jitter= and elapsed= for the retry decision"
            )
        # Built before retry_delay() moves the call on to its next attempt,
        # so the error carries the request that failed.
        error = call.decode_error(status, self._headers, body)
        # An error body, however odd, was framed correctly: unless it was
        # cut short, the connection stays reusable.
        keep = not truncated
        delay = call.retry_delay(status_code=status, headers=self._headers, now=now, jitter=jitter)
        if delay is None or elapsed + delay >= self._total:
            self._state = _FINISHED
            return Raise(error, keep_connection=keep)
        self._state = _READY
        return Retry(delay, error, keep_connection=keep)

    def transport_error(
        self,
        error: APIError,
        *,
        jitter: float,
        elapsed: float,
        reused: bool = False,
        connection_closed: bool = False,
        response_started: bool = False,
        not_processed: bool = False,
        nothing_sent: bool = False,
    ) -> SendRequest | Retry | Raise:
        """Sending or receiving failed below HTTP: ``error`` says how.

        The flags are what the runtime knows about the connection; leave
        one at its default when unsure.  ``reused``: it had carried an
        earlier request.  ``connection_closed``: the peer closed or reset it
        (as opposed to a time limit running out, or bytes that break HTTP).
        ``response_started``: some byte of the response had arrived (implied
        once a head was reported).  ``not_processed``: the server said it did
        not act on the request (an HTTP/2 REFUSED_STREAM, or a GOAWAY that
        left its stream out).  ``nothing_sent``: no byte of the request was
        written, so it cannot have reached the server.

        A request is sent again only when that cannot make the server act
        on it twice, or when the server can tell the copies apart:

        * Not processed: sent again at once, on any connection that takes
          it, without spending a retry (up to ``MAX_UNPROCESSED_RESENDS``
          times per call).
        * A reused connection closed before any byte of the response (the
          peer most likely shut it while it sat idle): sent again at once on
          a fresh connection without spending a retry, once per attempt, if
          nothing of it was written or its method is GET, HEAD or OPTIONS.
          Otherwise the server may have read it and acted before closing:
          it is retried only if it carries an ``Idempotency-Key`` and the
          retry policy grants a retry (counted, so the retry-count header
          moves on), at once and on a fresh connection.
        * Any other connection error, a time limit other than the total one,
          or the peer closing the connection: retried as the policy allows,
          except that a request that may have reached the server, with a
          method other than GET, HEAD or OPTIONS and no ``Idempotency-Key``
          (the caller removed it), is never sent twice.
        * A ``RemoteProtocolError`` from bytes that break HTTP is not retried.

        Never sent again, whatever the flags: a body from a source that can
        be read only once.
        """
        state = self._state
        if state != _SENT and state != _READING:
            self._expect(_SENT, _READING)
        if error.request is None:
            error.request = self._request
        if isinstance(error, APITimeoutError) and error.limit == "total":
            self._state = _FINISHED
            return Raise(error)
        if isinstance(error, ProxyError):
            # The proxy refused (or cannot be used): the same answer every time.
            self._state = _FINISHED
            return Raise(error)
        if not (isinstance(error, APIConnectionError) or connection_closed):
            self._state = _FINISHED
            return Raise(error)
        started = response_started or state == _READING
        call = self._call
        request = self._request
        assert request is not None
        if (
            not_processed
            and not started
            and self._unprocessed < MAX_UNPROCESSED_RESENDS
            and call.replayable
        ):
            self._unprocessed += 1
            self._state = _SENT
            return SendRequest(request)
        # Sending it again cannot make the server act twice.
        harmless = nothing_sent or request.method in _SAFE_METHODS
        idle_close = reused and connection_closed and not started
        if (
            idle_close
            and harmless
            and not self._resent
            # A body read from a one-time source may be partly consumed.
            and call.replayable
        ):
            self._resent = True
            self._state = _SENT
            return SendRequest(request, fresh_connection=True)
        if not harmless and call.idempotency_key is None:
            # The server may have acted on it and could not recognise a
            # second copy.
            self._state = _FINISHED
            return Raise(error)
        delay = call.retry_delay_after_error(jitter=jitter)
        if delay is None or elapsed + delay >= self._total:
            self._state = _FINISHED
            return Raise(error)
        self._state = _READY
        if idle_close:
            # The connection died, not the server's patience: no back-off.
            self._fresh_next = True
            return Retry(0.0, error)
        return Retry(delay, error)

    def _wrong_content_type(self, body: bytes) -> UnexpectedContentTypeError:
        content_type = self._headers.get("content-type")
        got = "no content-type" if content_type is None else f"content-type {content_type!r}"
        shown = self._call._scrub(body[: _SHOWN_BODY_CHARS * 4].decode("utf-8", errors="replace"))
        return UnexpectedContentTypeError(
            f"Expected a {_EVENT_STREAM} response to a streamed call, got {got} "
            f"(status {self._status})",
            content_type=content_type,
            body=shown[:_SHOWN_BODY_CHARS],
            status_code=self._status,
            request=self._request,
        )


def lifecycle_for(
    config: ClientConfig,
    prepared: PreparedOperation[Any],
    *,
    idempotency_key: str | None = None,
    multipart_random: bytes | None = None,
    stream_body: bool = False,
) -> CallLifecycle:
    """The ``Call`` and its lifecycle for a request built by one of the
    ``openai_sansio.api`` builders, as its operation's kinds say: the body
    encoding (JSON, multipart form, raw bytes), the result's parser, the
    stream decoder.

    ``idempotency_key`` is needed for every method but GET (see
    ``new_idempotency_key``); ``multipart_random`` (16 random bytes, for the
    form boundary) for a multipart body.  A page of a list operation comes
    back as one page: following cursors is the runtime's business.
    """
    op = prepared.operation
    call = Call(
        config,
        op.method,
        prepared.path,
        query=prepared.query,
        stream=prepared.stream,
        options=prepared.options,
        idempotency_key=idempotency_key,
        **prepared.body_arguments(multipart_random),
    )
    if prepared.stream:
        return CallLifecycle(call, response_kind="stream", stream_decoder=op.make_stream_decoder)
    parse = prepared.result_parser() if op.response_kind == "json" else None
    return CallLifecycle(call, response_kind=op.response_kind, parse=parse, stream_body=stream_body)
