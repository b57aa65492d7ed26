"""The trio adapter's Realtime client (``client.realtime.connect``) against
the independent peer: the scripted ``websockets`` server of
tests/peers/realtime_server.py, over ws and wss.

tests/test_peers_realtime.py covers the core over bare streams; this file
is the same session through the public client API.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from peers.realtime_peer import RealtimePeer

import openai_trio
from openai_sansio import AuthenticationError, ClientConfig, WebSocketClosedError
from openai_sansio.types.realtime_events import (
    RealtimeServerEventConversationItemAdded,
    RealtimeServerEventError,
    RealtimeServerEventResponseDone,
    RealtimeServerEventResponseTextDelta,
    RealtimeServerEventSessionCreated,
    RealtimeServerEventSessionUpdated,
)

KEY = "sk-peer-" + "c" * 24
MODEL = "gpt-realtime"
DEADLINE = 15.0


def client(peer: RealtimePeer, transport: str, **kwargs: Any) -> openai_trio.Client:
    if transport == "wss":
        kwargs.setdefault("ssl_context", peer.certs.client_context())
        base_url = peer.wss_base_url
    else:
        base_url = peer.ws_base_url
    kwargs.setdefault("api_key", KEY)
    return openai_trio.Client(base_url=base_url, max_retries=0, timeout=10, **kwargs)


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_session_through_the_client(realtime_peer: RealtimePeer, transport: str) -> None:
    count = 300
    with trio.fail_after(DEADLINE):
        async with client(realtime_peer, transport) as c, c.realtime.connect(model=MODEL) as conn:
            assert isinstance(await conn.recv(), RealtimeServerEventSessionCreated)
            await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
            updated = await conn.recv()
            assert isinstance(updated, RealtimeServerEventSessionUpdated)
            assert updated.to_dict()["session"]["instructions"] == "Be brief."
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
            await conn.conversation.item.create(item=item)
            assert isinstance(await conn.recv(), RealtimeServerEventConversationItemAdded)
            await conn.recv()  # conversation.item.done
            await conn.send({"type": "response.create", "response": {"metadata": {"deltas": str(count)}}})
            deltas = []
            async for event in conn:
                if isinstance(event, RealtimeServerEventResponseTextDelta):
                    deltas.append(event.delta)
                elif isinstance(event, RealtimeServerEventResponseDone):
                    break
            assert deltas == [f"w{i} " for i in range(count)]
            # A bad event is an error event, not an exception; the session goes on.
            await conn.send({"type": "session.nonsense", "event_id": "evt_c_1"})
            error = await conn.recv()
            assert isinstance(error, RealtimeServerEventError)
            assert error.error.event_id == "evt_c_1"
            await conn.response.create()
            events = []
            async for event in conn:
                events.append(event)
                if isinstance(event, RealtimeServerEventResponseDone):
                    break
            assert sum(isinstance(e, RealtimeServerEventResponseTextDelta) for e in events) == 3


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_forced_close_through_the_client(realtime_peer: RealtimePeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        async with client(realtime_peer, transport) as c:
            with pytest.raises(WebSocketClosedError) as info:
                async with c.realtime.connect(model=MODEL) as conn:
                    assert isinstance(await conn.recv(), RealtimeServerEventSessionCreated)
                    metadata = {"close_code": "4002", "close_reason": "scripted"}
                    await conn.send({"type": "response.create", "response": {"metadata": metadata}})
                    async for _ in conn:
                        pass
            assert info.value.close_code == 4002
            assert info.value.reason == "scripted"
            assert not info.value.retryable


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_no_bearer_through_the_client(realtime_peer: RealtimePeer, transport: str) -> None:
    # The key goes in another header: no bearer for this peer, a 401 before
    # the upgrade, and the key in no part of the error.
    with trio.fail_after(DEADLINE):
        base_url = realtime_peer.wss_base_url if transport == "wss" else realtime_peer.ws_base_url
        config = ClientConfig(api_key=KEY, base_url=base_url, api_key_header="api-key", max_retries=0)
        async with openai_trio.Client(config=config, ssl_context=realtime_peer.certs.client_context()) as c:
            with pytest.raises(AuthenticationError) as info:
                async with c.realtime.connect(model=MODEL):
                    raise AssertionError("the upgrade should have been refused")
    assert info.value.status_code == 401
    assert KEY not in str(info.value) and KEY not in repr(info.value)
