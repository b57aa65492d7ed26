"""A canary key, placed everywhere a credential can be configured, never
comes back out of the client: not in exception messages or reprs (the whole
``__cause__``/``__context__`` chain), not in ``exc.request``, ``exc.headers``
or an error's body, not in debug logs, and not in tracebacks formatted with
``capture_locals=True`` (what error trackers record, by ``repr()`` of every
local of every frame).

The fake server is made to misbehave in every way it can: echo the key in
error bodies and response headers, answer with non-JSON, break framing,
reset, hang, close a reused connection.  Each test counts the exceptions it
checks; ``test_zz_figure`` prints the total ("N of N tracebacks clean").
"""

from __future__ import annotations

import base64
import logging
import secrets
import traceback
from typing import Any, Awaitable, Callable

import pytest
import trio
import trio.testing

import openai_trio
from openai_sansio import ClientConfig, LocalProtocolError
from openai_trio import Client
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

CANARY = "sk-canary-" + secrets.token_hex(16)
PROXY_USER = "proxyuser"
# What a proxy's credential looks like on the wire.
PROXY_BASIC = base64.b64encode(f"{PROXY_USER}:{CANARY}".encode()).decode("ascii")
NEEDLES = (CANARY, PROXY_BASIC)
MESSAGES: Any = [{"role": "user", "content": "Hello"}]

# Every place a client takes a credential, all holding the canary.
DEFAULT_HEADERS = {"api-key": CANARY, "X-Custom-Token": CANARY}
DEFAULT_QUERY = {"key": CANARY, "api-version": "2024-10-21"}


class Audit:
    """Collects what leaked, and counts the tracebacks it looked at."""

    checked = 0
    clean = 0

    def __init__(self) -> None:
        self.leaks: list[str] = []

    def _scan(self, label: str, where: str, text: str) -> bool:
        found = [n for n in NEEDLES if n in text]
        if found:
            self.leaks.append(f"{label}: {where}")
        return not found

    def exception(self, label: str, exc: BaseException, *, with_locals: bool = True) -> None:
        """Every way an error is looked at, down its whole chain.

        ``with_locals=False`` is for errors raised while a client is being
        built: the frames between the caller and the check are the
        constructors it called, and their locals are the caller's own
        arguments, key included (as for any function given a key).
        """
        ok = True
        seen: set[int] = set()
        link: BaseException | None = exc
        depth = 0
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            name = f"{type(link).__name__}@{depth}"
            ok &= self._scan(label, f"str({name})", str(link))
            ok &= self._scan(label, f"repr({name})", repr(link))
            for attr in ("request", "headers", "body", "data", "received"):
                value = getattr(link, attr, None)
                if value is not None:
                    ok &= self._scan(label, f"{name}.{attr}", repr(value))
            headers = getattr(link, "headers", None)
            if headers is not None:
                ok &= self._scan(label, f"{name}.headers values", repr(list(headers.items())))
            response = getattr(link, "response", None)
            if response is not None and hasattr(response, "text"):
                ok &= self._scan(label, f"{name}.response.text", response.text)
            link = link.__cause__ if link.__cause__ is not None else link.__context__
            depth += 1
        tb = traceback.TracebackException.from_exception(exc, capture_locals=with_locals)
        formatted = "".join(tb.format())
        if with_locals:
            tb_ok = self._scan(label, "traceback with locals", formatted)
            Audit.checked += 1
            Audit.clean += tb_ok
        else:
            self._scan(label, "traceback", formatted)
        if not ok:
            self.leaks.append(f"{label}: (some attribute above)")

    def text(self, label: str, text: str) -> None:
        self._scan(label, "text", text)

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        for record in caplog.records:
            self._scan("log", record.getMessage(), record.getMessage())
            self._scan("log args", record.getMessage(), repr(record.args))
            if record.exc_info:
                formatted = "".join(traceback.format_exception(*record.exc_info))
                self._scan("log exc_info", record.getMessage(), formatted)
        self._scan("log text", "caplog.text", caplog.text)


async def expect_error(
    audit: Audit, label: str, call: Callable[[], Awaitable[Any]], server: FakeServer | None = None
) -> None:
    try:
        result = await call()
        if hasattr(result, "__aiter__"):
            async with result as stream:
                async for _item in stream:
                    pass
    except openai_trio.OpenAIError as exc:
        audit.exception(label, exc)
    else:
        pytest.fail(f"{label}: no error")
    # Every scripted answer was used: the script is still in step.
    assert server is None or server.pending == 0, label


def echo_everything(request: ReceivedRequest) -> FakeResponse:
    """An error that quotes the request back: its target and every header."""
    quoted = f"{request.target} {list(request.headers.items())!r}"
    return FakeResponse.error(
        400,
        f"Bad request {quoted}",
        headers={"x-echo-target": request.target, "x-echo-key": request.headers.get("api-key", "")},
    )


def canary_client(server: FakeServer, **kwargs: Any) -> Client:
    settings: dict[str, Any] = {
        "api_key": CANARY,
        "default_headers": DEFAULT_HEADERS,
        "default_query": DEFAULT_QUERY,
        "max_retries": 1,
        "jitter": lambda: 0.0,
    }
    settings.update(kwargs)
    if "base_url" not in settings:
        settings["base_url"] = server.base_url
    return Client(**settings)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    caplog.set_level(logging.DEBUG)
    return caplog


def _chunked_head(extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}transfer-encoding: chunked\r\n\r\n".encode()


async def test_error_paths_over_tcp(debug_logs: pytest.LogCaptureFixture) -> None:
    audit = Audit()
    error_headers = {"x-echoed-key": CANARY, "www-authenticate": f"Bearer {CANARY}"}
    with trio.fail_after(30):
        async with FakeServer() as server:
            await server.serve_tcp("127.0.0.1")
            async with canary_client(server) as client:
                models = client.models

                server.enqueue(FakeResponse.error(401, f"Incorrect API key provided: {CANARY}", headers=error_headers))
                await expect_error(audit, "401 echoing the key", models.list, server)

                server.enqueue(
                    FakeResponse.error(500, f"oops {CANARY}", headers=error_headers),
                    FakeResponse.error(503, f"still {CANARY}", headers=error_headers),
                )
                await expect_error(audit, "5xx after a retry", models.list, server)

                server.enqueue(FakeResponse.text(f"<html>key={CANARY}</html>", 502, headers=error_headers))
                await expect_error(audit, "5xx text body", lambda: models.list(max_retries=0), server)

                server.enqueue(
                    FakeResponse.error(429, f"slow {CANARY}", headers={"retry-after-ms": "1", **error_headers}),
                    FakeResponse.error(400, f"bad {CANARY}", headers=error_headers),
                )
                await expect_error(
                    audit, "429 then 400 (chat)",
                    lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
                    server,
                )

                server.enqueue(echo_everything)
                await expect_error(audit, "400 echoing the request", models.list, server)

                server.enqueue(echo_everything)
                await expect_error(
                    audit, "400 echoing a POST",
                    lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
                    server,
                )

                server.enqueue(FakeResponse.text(f"not json {CANARY}", 200, headers=error_headers))
                await expect_error(audit, "200 that is not JSON", models.list, server)

                server.enqueue(FakeResponse.raw([]), FakeResponse.raw([]))
                await expect_error(audit, "closed without an answer", models.list, server)

                server.enqueue(
                    FakeResponse(
                        status=500,
                        body=(f'{{"error": {{"message": "{CANARY}'.encode(), b"x" * 100),
                        close_after=1,
                    ),
                )
                # (A body cut short is retried: with none left it is the error.)
                await expect_error(audit, "error body cut short", lambda: models.list(max_retries=0), server)

                server.enqueue(FakeResponse.raw([f"HTTP/1.1 200 OK\r\nx-key: {CANARY}\r\nbroken {CANARY}\r\n\r\n".encode()]))
                await expect_error(audit, "malformed header line", models.list, server)

                server.enqueue(FakeResponse.raw([f"SSH-2.0 {CANARY}\r\n".encode()]))
                await expect_error(audit, "not HTTP at all", models.list, server)

                server.enqueue(FakeResponse.raw([_chunked_head(f"x-key: {CANARY}\r\n") + f"zz{CANARY}\r\n".encode()]))
                await expect_error(audit, "malformed chunk size", models.list, server)

                server.enqueue(FakeResponse.raw([f"HTTP/1.1 abc {CANARY}\r\n\r\n".encode()]))
                await expect_error(audit, "malformed status line", models.list, server)

                # A reused connection closed under the next request, then an error.
                server.enqueue(FakeResponse.json({"object": "list", "data": []}))
                await models.list()
                server.enqueue(
                    FakeResponse.raw([]),
                    FakeResponse.error(403, f"no {CANARY}", headers=error_headers),
                )
                await expect_error(audit, "stale connection then 403", models.list, server)

                # Streams.
                def chat_stream() -> Awaitable[Any]:
                    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)

                server.enqueue(FakeResponse.sse([{"error": {"message": f"in stream {CANARY}"}}], headers=error_headers))
                await expect_error(audit, "error event in a stream", chat_stream, server)

                server.enqueue(FakeResponse.sse([f"data: {{not json {CANARY}\n\n"], headers=error_headers))
                await expect_error(audit, "bad JSON in a stream", chat_stream, server)

                server.enqueue(FakeResponse.json({"echo": CANARY}, headers=error_headers))
                await expect_error(audit, "stream answered with JSON", chat_stream, server)

                server.enqueue(
                    FakeResponse.sse(
                        [{"id": "c", "object": "chat.completion.chunk", "choices": []}, f"data: {CANARY}"],
                        close_after=1,
                        done=False,
                    )
                )
                await expect_error(audit, "stream cut short", chat_stream, server)

                server.enqueue(FakeResponse.error(401, f"bad key {CANARY}", headers=error_headers))
                await expect_error(audit, "raw response 401", client.with_raw_response.models.list, server)

                # Successful responses: what they show of themselves.
                server.enqueue(FakeResponse.json({"object": "list", "data": []}))
                raw: Any = await client.with_raw_response.models.list()
                audit.text("repr(raw response)", repr(raw))
                audit.text("repr(raw.http_request)", repr(raw.http_request))
                page = raw.parse()
                audit.text("repr(page)", repr(page))
                async with await chat_stream() as stream:
                    audit.text("repr(stream)", repr(stream))
                    audit.text("repr(stream.request)", repr(stream.request))
                    async for _chunk in stream:
                        pass
                audit.text("repr(client)", repr(client))
                audit.text("repr(config)", repr(client.config))
    audit.logs(debug_logs)
    assert not audit.leaks, "\n".join(audit.leaks)


async def test_timeouts_and_hangs(
    debug_logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    audit = Audit()
    async with (
        FakeServer() as server,
        canary_client(server, base_url="http://api.test/v1", connector=server.connect, timeout=5) as client,
    ):
        server.enqueue(FakeResponse.hanging(), FakeResponse.hanging())
        await expect_error(audit, "read timeout after a retry", client.models.list, server)

        server.enqueue(FakeResponse.json({"object": "list", "data": []}, headers_delay=10))
        await expect_error(audit, "slow head, no retries", lambda: client.models.list(max_retries=0), server)

        server.enqueue(
            FakeResponse(
                status=500, body=(f'{{"error": "{CANARY}'.encode(), b'"}'), delay=10
            )
        )
        await expect_error(audit, "error body stalls", lambda: client.models.list(max_retries=0), server)

        server.enqueue(FakeResponse.error(500, CANARY, headers_delay=3), FakeResponse.hanging())
        await expect_error(
            audit, "total timeout",
            lambda: client.models.list(timeout=openai_trio.Timeout(5, total=4)),
        )
        server.enqueue(
            FakeResponse.sse(
                [{"id": "c", "object": "chat.completion.chunk", "choices": []}, f"data: {CANARY}\n\n"],
                delay=10,
            )
        )
        await expect_error(
            audit, "stream stalls",
            lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True),
        )
    audit.logs(debug_logs)
    assert not audit.leaks, "\n".join(audit.leaks)


async def test_through_a_forwarding_proxy(debug_logs: pytest.LogCaptureFixture) -> None:
    """The fake server stands in for the proxy: a forwarded request reaches
    it with the proxy's credential, and its answers come back through it."""
    audit = Audit()
    with trio.fail_after(30):
        async with FakeServer() as server:
            port = await server.serve_tcp("127.0.0.1")
            proxy = f"http://{PROXY_USER}:{CANARY}@127.0.0.1:{port}"
            async with canary_client(server, base_url="http://api.test/v1", proxy=proxy) as client:
                audit.text("repr(client)", repr(client))
                server.enqueue(FakeResponse.error(401, f"Incorrect API key provided: {CANARY}"))
                await expect_error(audit, "proxied 401", client.models.list, server)
                # Reused, so the first close is resent on a fresh connection.
                server.enqueue(FakeResponse.raw([]), FakeResponse.raw([]), FakeResponse.raw([]))
                await expect_error(audit, "proxy closes", client.models.list, server)
                server.enqueue(FakeResponse.raw([f"HTTP/1.1 200 OK\r\nbroken {CANARY}\r\n\r\n".encode()]))
                await expect_error(audit, "proxy breaks framing", client.models.list, server)
                server.enqueue(FakeResponse.json({"object": "list", "data": []}))
                await client.models.list()
                assert server.last_request.headers["proxy-authorization"] == f"Basic {PROXY_BASIC}"
            # The proxy refusing connections: nothing listens there any more.
        async with canary_client(server, base_url="https://api.test/v1", proxy=proxy, max_retries=0) as client:
            await expect_error(audit, "proxy unreachable", client.models.list, server)
        with pytest.raises(ValueError) as info:
            Client(api_key="k", proxy=f"http://{PROXY_USER}:{CANARY}@127.0.0.1:notaport")
        audit.exception("proxy URL with a bad port", info.value, with_locals=False)
    audit.logs(debug_logs)
    assert not audit.leaks, "\n".join(audit.leaks)


@pytest.mark.parametrize(
    "base_url",
    [
        f"ftp://api.test/v1?key={CANARY}",
        f"http:///v1?key={CANARY}",
        f"https://api.test/v1?key={CANARY}",
        f"https://api.test/v1#key={CANARY}",
        f"https://api.test:99999/v1?key={CANARY}",
        f"https://user:{CANARY}@api.test/v1",
        f"https://api.test/v1?key={CANARY} ",
        f"//api.test/v1?key={CANARY}",
    ],
)
def test_malformed_base_url(base_url: str) -> None:
    audit = Audit()
    with pytest.raises(LocalProtocolError) as info:
        Client(api_key=CANARY, base_url=base_url)
    audit.exception("base_url", info.value, with_locals=False)
    with pytest.raises(LocalProtocolError) as info:
        ClientConfig(api_key=CANARY, base_url=base_url)
    audit.exception("ClientConfig base_url", info.value, with_locals=False)
    assert not audit.leaks, "\n".join(audit.leaks)


@pytest.mark.parametrize(
    "settings",
    [
        {"default_headers": {"api-key": CANARY + "\n"}},
        {"default_headers": {"api-key": CANARY + "\u00e9"}},
        {"default_headers": {f"bad name {CANARY}": "x"}},
    ],
    ids=["newline", "non-ascii", "bad-name"],
)
async def test_bad_settings(settings: dict[str, Any]) -> None:
    audit = Audit()
    try:
        async with Client(api_key=CANARY, base_url="http://api.test/v1", **settings) as client:
            await client.models.list()
    except LocalProtocolError as exc:
        audit.exception(f"settings {sorted(settings)}", exc, with_locals=False)
    else:
        pytest.fail("no error")
    assert not audit.leaks, "\n".join(audit.leaks)


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True), ("api-key", True), ("X-API-Key", True), ("api_key", True),
        ("Proxy-Authorization", True), ("x-custom-token", True), ("client_secret", True),
        ("sig", True), ("code", True), ("Cookie", True), ("ocp-apim-subscription-key", True),
        ("idempotency-key", False), ("Idempotency_Key", False), ("api-version", False),
        ("openai-organization", False), ("user-agent", False), ("content-type", False),
    ],
)
def test_the_credential_rule(name: str, credential: bool) -> None:
    from openai_sansio._redact import is_credential_name

    assert is_credential_name(name) is credential


def test_request_repr_and_secrets() -> None:
    from openai_sansio import Origin, Request

    request = Request(
        "GET",
        Origin("https", "api.test", 443),
        f"/v1/models?api-version=1&key={CANARY}&sig=abc%2Bdef12345",
        (("authorization", f"Bearer {CANARY}"), ("x-custom-token", "short"), ("idempotency-key", "idem-1")),
    )
    text = repr(request)
    assert CANARY not in text and "abc%2Bdef12345" not in text and "short" not in text
    assert "api-version=1" in text and "idem-1" in text and "key=<redacted>" in text
    assert CANARY not in request.redacted_url and request.url.endswith("abc%2Bdef12345")
    # The token alone, the header value, the decoded query value: long ones only.
    assert set(request.secrets) == {CANARY, f"Bearer {CANARY}", "abc+def12345", "abc%2Bdef12345"}


def test_redacted_bytes() -> None:
    from openai_sansio._redact import RedactedBytes

    data = RedactedBytes(f"GET / HTTP/1.1\r\nauthorization: Bearer {CANARY}\r\n\r\n".encode())
    assert data == f"GET / HTTP/1.1\r\nauthorization: Bearer {CANARY}\r\n\r\n".encode()
    # %-formatting is what logging does with its arguments.
    for shown in (repr(data), str(data), f"{data}", "%s" % (data,), repr([data])):  # type: ignore[str-bytes-safe]  # noqa: UP031
        assert CANARY not in shown
        assert f"<{len(data)} bytes" in shown
    assert bytes(data).startswith(b"GET /") and bytes(memoryview(data)[:3]) == b"GET"


def test_zz_figure(capsys: pytest.CaptureFixture[str]) -> None:
    # Runs last in this file (pytest keeps file order): the figure of the
    # tests above, for the report.
    # (With the file's tests run in a random order the count is partial.)
    with capsys.disabled():
        print(f"\nsecret canary: {Audit.clean} of {Audit.checked} tracebacks clean")
    assert Audit.clean == Audit.checked
