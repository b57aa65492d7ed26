"""Connections grouped by origin, handed out one stream slot at a time.

The pool never speaks HTTP: it asks each connection whether it has a free
stream slot (``max_streams`` is 1 for HTTP/1.1; an HTTP/2 connection will
simply report more), opens new ones up to ``max_connections`` per origin and
parks callers that must wait for one.

Every change of accounting happens synchronously, before any checkpoint, so
a cancellation at any await leaves the numbers right.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Awaitable, Callable, Union

import attrs
import trio

from openai_sansio import APIConnectionError, APITimeoutError, HTTP11Connection, Origin

from ._connection import CLOSE_GRACE, TRANSPORT_ERRORS, Connection, Limits, ProtocolConnection
from ._tls import tls_failure_message

if TYPE_CHECKING:
    from ._multiplexed import MultiplexedConnection, StreamLease

__all__ = ["ConnectionPool", "Connector", "PoolStats"]

Connector = Callable[[Origin], Awaitable[trio.abc.Stream]]
# Picks the sans-IO connection for a newly opened transport stream (by the
# protocol TLS negotiated, or a forwarding proxy the connector went through).
ProtocolFactory = Callable[[Origin, trio.abc.Stream], ProtocolConnection]

DEFAULT_MAX_CONNECTIONS = 100

# What acquire() hands out: a whole HTTP/1.1 connection, or one stream of an
# HTTP/2 one.
Lease = Union[Connection, "StreamLease"]


@attrs.frozen
class PoolStats:
    """A snapshot of the pool's accounting, summed over every origin.

    ``connections`` counts open connections, ``in_use`` the stream slots
    held by requests, ``idle`` the connections holding none, ``connecting``
    the connections being opened and ``waiting`` the callers parked for a
    free slot.
    """

    connections: int = 0
    in_use: int = 0
    idle: int = 0
    connecting: int = 0
    waiting: int = 0


@attrs.define
class _OriginPool:
    connections: list[Connection | MultiplexedConnection] = attrs.field(factory=list)
    connecting: int = 0
    waiting: int = 0
    lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)
    # False while every connection is an HTTP11Connection, which carries
    # one request at a time: a busy one then never has a free slot, and the
    # scan in _take_slot can pass it by without asking.
    shares: bool = False
    # Whether a connection was opened yet, so its protocol is known.  Until
    # then, when HTTP/2 is possible, one connection is opened at a time:
    # if the server speaks it, the other callers share that connection
    # rather than each opening their own.
    protocol_known: bool = False


def _default_protocol(origin: Origin, stream: trio.abc.Stream) -> ProtocolConnection:
    # Imported on use (a dict lookup once loaded): the pool does not
    # otherwise depend on how streams are opened.
    from ._proxy import ForwardingStream

    if type(stream) is ForwardingStream:
        return HTTP11Connection(forward_proxy=stream.forward_proxy)
    return HTTP11Connection()


def choose_protocol(*, http2: bool, h2c: bool) -> ProtocolFactory:
    """The client's protocol factory: HTTP/2 when TLS negotiated "h2" (or,
    with ``h2c``, on every plain-HTTP connection: prior knowledge, for
    local servers that speak cleartext HTTP/2), else HTTP/1.1."""

    def factory(origin: Origin, stream: trio.abc.Stream) -> ProtocolConnection:
        if isinstance(stream, trio.SSLStream):
            if stream.selected_alpn_protocol() == "h2":
                if not http2:
                    # Only a server ignoring our ALPN offer does this.
                    raise APIConnectionError(f"{origin} chose HTTP/2 although only http/1.1 was offered")
                return _http2()
        elif h2c and origin.scheme == "http" and getattr(stream, "forward_proxy", None) is None:
            return _http2()
        return _default_protocol(origin, stream)

    return factory


def _http2() -> ProtocolConnection:
    # Imported when first negotiated: h2 costs an import HTTP/1.1 never needs.
    from openai_sansio import HTTP2Connection

    return HTTP2Connection()  # type: ignore[return-value]


class ConnectionPool:
    """Connections per ``Origin``, at most ``max_connections`` each."""

    def __init__(
        self,
        connector: Connector,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        protocol_factory: ProtocolFactory = _default_protocol,
        may_multiplex: Callable[[Origin], bool] | None = None,
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive int, got {max_connections!r}")
        self._connector = connector
        self._max_connections = max_connections
        self._protocol_factory = protocol_factory
        self._may_multiplex = may_multiplex
        self._origins: dict[Origin, _OriginPool] = {}
        # The last origin looked up, by identity: a client sends every call
        # to the same Origin object, and hashing it is not free.  Entries
        # are never removed from _origins, so this never goes stale.
        self._last: tuple[Origin, _OriginPool] | None = None
        self._closed = False
        self.connections_opened = 0
        # HTTP/2 connections out of the pool that still carry streams (a
        # GOAWAY, a failure): closed with the pool, or by their last stream.
        self._draining: set[MultiplexedConnection] = set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_connections(self) -> int:
        return self._max_connections

    def stats(self) -> PoolStats:
        connections = in_use = idle = connecting = waiting = 0
        for op in self._origins.values():
            connections += len(op.connections)
            connecting += op.connecting
            waiting += op.waiting
            for conn in op.connections:
                in_use += conn.streams_in_use
                if conn.streams_in_use == 0:
                    idle += 1
        return PoolStats(connections, in_use, idle, connecting, waiting)

    def _take_slot(
        self, op: _OriginPool, *, fresh_only: bool
    ) -> tuple[Connection | MultiplexedConnection | None, list[Connection | MultiplexedConnection]]:
        """A connection with a free slot (its slot already taken), plus the
        dead ones found on the way, which the caller closes."""
        dead: list[Connection | MultiplexedConnection] = []
        found: Connection | MultiplexedConnection | None = None
        single = not op.shares
        # Newest first: the most recently used connection is the least
        # likely to have been closed by the peer for idling.
        for conn in reversed(op.connections):
            if conn.streams_in_use:
                # Broken or not, a connection someone holds stays counted
                # until its holder releases it (and closes it then).
                if single or fresh_only or not conn.has_free_slot:
                    continue
            elif not conn.can_return_to_pool:
                dead.append(conn)
                continue
            elif fresh_only:
                # The fresh HTTP/2 connection about to open will carry every
                # request an idle one could (newest first), so an idle one
                # kept would never be used again: each stale-connection
                # re-send used to leave one behind, up to max_connections.
                if not single:
                    dead.append(conn)
                continue
            elif conn.peer_closed():
                conn.mark_broken()
                dead.append(conn)
                continue
            found = conn
            break
        for conn in dead:
            op.connections.remove(conn)
        if found is not None:
            found.streams_in_use += 1
        return found, dead

    def _evict_idle(self, op: _OriginPool) -> Connection | MultiplexedConnection | None:
        for conn in op.connections:
            if conn.streams_in_use == 0:
                op.connections.remove(conn)
                return conn
        return None

    async def acquire(self, origin: Origin, limits: Limits, *, fresh: bool = False) -> Lease:
        """A connection to ``origin`` with one stream slot reserved for the
        caller, who must hand it back with ``release``.

        With ``fresh`` the connection is a newly opened one (used to re-send
        a request that met a stale reused connection).
        """
        last = self._last
        if last is not None and last[0] is origin:
            op = last[1]
        else:
            found = self._origins.get(origin)
            if found is None:
                found = self._origins[origin] = _OriginPool()
            op = found
            self._last = (origin, op)
        pool_deadline = trio.current_time() + (math.inf if limits.pool is None else limits.pool)
        while True:
            if self._closed:
                raise APIConnectionError("The client has been closed.")
            conn, dead = self._take_slot(op, fresh_only=fresh)
            if fresh and conn is None and len(op.connections) + op.connecting >= self._max_connections:
                # Make room for the fresh connection rather than queue behind
                # idle ones we refuse to use.
                evicted = self._evict_idle(op)
                if evicted is not None:
                    dead.append(evicted)
            if dead:
                op.lot.unpark_all()
                await _close_all(dead)
            if conn is not None:
                return conn if type(conn) is Connection else conn.lease()  # type: ignore[union-attr]
            if len(op.connections) + op.connecting < self._max_connections and not (
                op.connecting and not op.protocol_known and self._may_multiplex is not None
                and self._may_multiplex(origin)
            ):
                return await self._open(origin, op, limits)
            op.waiting += 1
            try:
                with trio.move_on_at(min(pool_deadline, limits.deadline)) as scope:
                    await op.lot.park()
            finally:
                op.waiting -= 1
            if scope.cancelled_caught:
                if trio.current_time() >= limits.deadline:
                    raise APITimeoutError("total", math.inf if limits.total is None else limits.total)
                raise APITimeoutError("pool", math.inf if limits.pool is None else limits.pool)

    async def _open(self, origin: Origin, op: _OriginPool, limits: Limits) -> Lease:
        op.connecting += 1
        try:
            stream = await self._connect(origin, limits)
        finally:
            op.connecting -= 1
            # Waiters may now open a connection themselves if this failed.
            op.lot.unpark_all()
        try:
            protocol = self._protocol_factory(origin, stream)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        op.protocol_known = True
        conn: Connection | MultiplexedConnection
        if type(protocol) is HTTP11Connection:
            conn = Connection(stream, origin, protocol)
        else:
            from ._multiplexed import MultiplexedConnection

            op.shares = True
            conn = MultiplexedConnection(stream, origin, protocol)  # type: ignore[arg-type]
        conn.streams_in_use = 1
        self.connections_opened += 1
        if self._closed:
            await conn.aclose()
            raise APIConnectionError("The client has been closed.")
        op.connections.append(conn)
        return conn if type(conn) is Connection else conn.lease()  # type: ignore[union-attr]

    async def _connect(self, origin: Origin, limits: Limits) -> trio.abc.Stream:
        connect = math.inf if limits.connect is None else limits.connect
        try:
            with trio.move_on_at(limits.deadline) as total_scope:
                with trio.move_on_after(connect) as connect_scope:
                    return await self._connector(origin)
        except TRANSPORT_ERRORS as exc:
            # A TLS failure reads as a bare BrokenResourceError, the ssl
            # error two causes down: say what it was and what to do.
            detail = tls_failure_message(exc, origin.host, origin.port)
            raise APIConnectionError(f"Could not connect to {origin}: {detail or repr(exc)}") from exc
        if connect_scope.cancelled_caught:
            raise APITimeoutError("connect", connect)
        assert total_scope.cancelled_caught
        raise APITimeoutError("total", math.inf if limits.total is None else limits.total)

    async def release(self, conn: Lease, *, discard: bool = False) -> None:
        """Give back the slot taken by ``acquire``.

        The connection goes back to the pool if it can carry another request;
        otherwise (or with ``discard``) it is closed, shielded from
        cancellation and bounded in time.
        """
        if self.release_nowait(conn, discard=discard):
            await conn.aclose()

    def release_nowait(self, conn: Lease, *, discard: bool = False) -> bool:
        """``release`` up to closing the connection; True means the caller
        must still ``await conn.aclose()``."""
        if type(conn) is not Connection:
            return self._release_stream(conn, discard)  # type: ignore[arg-type]
        conn.streams_in_use -= 1
        assert conn.streams_in_use >= 0
        last = self._last
        op = last[1] if last is not None and last[0] is conn.origin else self._origins.get(conn.origin)
        drop = discard or self._closed or (conn.streams_in_use == 0 and not conn.can_return_to_pool)
        if drop:
            conn.mark_broken()
            if op is not None and conn in op.connections:
                op.connections.remove(conn)
        # Only callers in acquire() park here, and they count themselves.
        if op is not None and op.waiting:
            op.lot.unpark_all()
        return drop

    def _release_stream(self, lease: StreamLease, discard: bool) -> bool:
        conn = lease.connection
        must = conn.release(lease, discard=discard, pool_closed=self._closed)
        op = self._origins.get(conn.origin)
        if conn.dropped:
            if conn.streams_in_use:
                self._draining.add(conn)
            else:
                self._draining.discard(conn)
        if op is not None:
            if conn.dropped and conn in op.connections:
                op.connections.remove(conn)
            if op.waiting:
                op.lot.unpark_all()
        return must

    async def aclose(self) -> None:
        """Close every connection and refuse new requests; idempotent."""
        self._closed = True
        conns: list[Connection | MultiplexedConnection] = list(self._draining)
        self._draining.clear()
        for op in self._origins.values():
            conns.extend(op.connections)
            op.connections.clear()
            op.lot.unpark_all()
        await _close_all(conns)


async def _close_all(conns: list[Connection | MultiplexedConnection]) -> None:
    # One grace period for the lot: closing a hundred connections to a peer
    # that ignores close_notify must not take a hundred grace periods.
    grace_until = trio.current_time() + CLOSE_GRACE
    for conn in conns:
        await conn.aclose(grace_until=grace_until)
