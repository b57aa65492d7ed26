"""A fake OpenAI-compatible server for tests, built on h11 and trio.

::

    async with FakeServer() as server:
        server.enqueue(FakeResponse.error(429, "slow down", headers={"retry-after-ms": "10"}))
        await server.serve_tcp()            # or: stream = await server.connect(origin)
        ... talk to server.base_url ...
        assert server.requests[0].json()["model"] == "gpt-4o-mini"

With nothing enqueued the server answers like a small OpenAI API: chat
completions and legacy completions (streamed or not), the Responses API,
embeddings, models and files (uploads kept in memory, their content served
back).  For code that is not trio, use
``with run_fake_server_in_thread() as base_url:``.
"""

from __future__ import annotations

from ._cassette import Recorder, Replayer, ReplayMode, record_connector, replay_connector
from ._faults import (
    DEFAULT_FAULTS,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    AppliedFault,
    DelayHead,
    EarlyClose,
    Fault,
    FaultPlan,
    GoAway,
    LateTerminator,
    MalformedChunkSize,
    MalformedHeaders,
    MalformedStatusLine,
    OversizedHeaders,
    PartialChunks,
    RateLimited,
    ResetMidBody,
    ResetStream,
    ServerErrors,
    SlowTrickle,
)
from ._multipart import FormPart, parse_multipart
from ._openai import DEFAULT_MODELS, FAKE_REPLY, FakeOpenAI, embedding_vector
from ._responses import FakeResponse, ReceivedRequest, format_sse
from ._server import FakeServer, Handler
from ._server_ws import WebSocketScript
from ._thread import run_fake_server_in_thread

__all__ = [
    "FakeServer",
    "FakeResponse",
    "ReceivedRequest",
    "Handler",
    "FakeOpenAI",
    "FAKE_REPLY",
    "DEFAULT_MODELS",
    "embedding_vector",
    "format_sse",
    "run_fake_server_in_thread",
    "FormPart",
    "parse_multipart",
    "FaultPlan",
    "AppliedFault",
    "Fault",
    "DEFAULT_FAULTS",
    "DelayHead",
    "PartialChunks",
    "ResetMidBody",
    "LateTerminator",
    "MalformedStatusLine",
    "MalformedHeaders",
    "MalformedChunkSize",
    "EarlyClose",
    "SlowTrickle",
    "OversizedHeaders",
    "RateLimited",
    "ServerErrors",
    "GoAway",
    "ResetStream",
    "REFUSED_STREAM",
    "INTERNAL_ERROR",
    "Recorder",
    "Replayer",
    "ReplayMode",
    "record_connector",
    "replay_connector",
    "WebSocketScript",
]
