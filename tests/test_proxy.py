"""select_proxy: the proxy environment variables as a pure function."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import LocalProtocolError, Origin, Proxy, select_proxy

HTTPS = Origin("https", "api.openai.com", 443)
HTTP = Origin("http", "localhost", 8000)


def test_nothing_set_means_direct() -> None:
    assert select_proxy(HTTPS, {}) is None
    assert select_proxy(HTTPS, {"HTTPS_PROXY": "  "}) is None


def test_scheme_variable_then_all_proxy() -> None:
    env = {"HTTPS_PROXY": "http://secure.proxy:3128", "HTTP_PROXY": "http://plain.proxy", "ALL_PROXY": "http://all:1"}
    assert select_proxy(HTTPS, env) == Proxy("http", "secure.proxy", 3128)
    assert select_proxy(HTTP, env) == Proxy("http", "plain.proxy", 80)
    assert select_proxy(HTTPS, {"ALL_PROXY": "http://all:1"}) == Proxy("http", "all", 1)
    assert select_proxy(HTTPS, {"all_proxy": "socks5h://s"}) == Proxy("socks5h", "s", 1080)


def test_lower_case_wins() -> None:
    env = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    assert select_proxy(HTTPS, env) == Proxy("http", "lower", 1)
    # An empty lower-case value falls back to the upper-case one.
    assert select_proxy(HTTPS, {"https_proxy": "", "HTTPS_PROXY": "http://upper:2"}) == Proxy("http", "upper", 2)


def test_cgi_ignores_upper_case_http_proxy() -> None:
    assert select_proxy(HTTP, {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://evil"}) is None
    assert select_proxy(HTTP, {"REQUEST_METHOD": "GET", "http_proxy": "http://ok"}) == Proxy("http", "ok", 80)
    assert select_proxy(HTTP, {"HTTP_PROXY": "http://fine"}) == Proxy("http", "fine", 80)


def test_url_forms_and_credentials() -> None:
    proxy = select_proxy(HTTPS, {"HTTPS_PROXY": "user%40corp:p%3Ass@proxy.corp:8080"})
    assert proxy == Proxy("http", "proxy.corp", 8080, "user@corp", "p:ss")
    assert proxy.authorization() == "Basic dXNlckBjb3JwOnA6c3M="
    assert "p:ss" not in repr(proxy) and "user" not in repr(proxy) and "<redacted>" in repr(proxy)
    assert proxy.url == "http://proxy.corp:8080"
    assert proxy.origin == Origin("http", "proxy.corp", 8080)
    assert Proxy("https", "p", 443).origin.scheme == "https"
    assert Proxy("http", "p", 80).authorization() is None
    ipv6 = select_proxy(HTTPS, {"HTTPS_PROXY": "http://[::1]:3128"})
    assert ipv6 is not None and ipv6.url == "http://[::1]:3128" and not ipv6.is_socks
    assert select_proxy(HTTPS, {"HTTPS_PROXY": "socks5://s:9"}).is_socks  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value", ["ftp://proxy", "http://", "http://host:0", "http://host:99999", "http://h:pw@[::1:80", "http://a b"]
)
def test_bad_proxy_urls_say_so_without_echoing(value: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        select_proxy(HTTPS, {"HTTPS_PROXY": value})
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("no_proxy", "origin", "bypass"),
    [
        ("*", HTTPS, True),
        ("openai.com", HTTPS, True),
        (".openai.com", HTTPS, True),
        ("OPENAI.COM.", HTTPS, True),
        ("api.openai.com", HTTPS, True),
        ("penai.com", HTTPS, False),
        ("other.com, openai.com", HTTPS, True),
        ("other.com openai.com", HTTPS, True),
        ("openai.com:443", HTTPS, True),
        ("openai.com:8443", HTTPS, False),
        ("openai.com:x", HTTPS, False),
        ("localhost", HTTP, True),
        ("127.0.0.1", Origin("http", "127.0.0.1", 80), True),
        ("127.0.0.0/8", Origin("http", "127.9.9.9", 80), True),
        ("10.0.0.0/8", Origin("http", "127.0.0.1", 80), False),
        ("10.0.0.0/8", HTTPS, False),
        ("10.0.0.0/x", Origin("http", "10.0.0.1", 80), False),
        ("::1", Origin("http", "::1", 80), True),
        ("[::1]", Origin("http", "::1", 80), True),
        ("[::1]:8080", Origin("http", "::1", 8080), True),
        ("[::1]:8080", Origin("http", "::1", 80), False),
        ("fd00::/8", Origin("http", "fd12::5", 80), True),
        ("fd00::/8", Origin("http", "fe80::1", 80), False),
        ("*.", HTTPS, False),
        (".", HTTPS, False),
        (",,", HTTPS, False),
    ],
)
def test_no_proxy(no_proxy: str, origin: Origin, bypass: bool) -> None:
    env = {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert (select_proxy(origin, env) is None) is bypass
    lower = {"https_proxy": "http://p:1", "http_proxy": "http://p:1", "no_proxy": no_proxy, "NO_PROXY": "nothing"}
    assert (select_proxy(origin, lower) is None) is bypass


_TEXT = st.text(alphabet=st.sampled_from(list("abc.:/[]*, 0123456789@%-_\t")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    proxy=_TEXT,
    no_proxy=_TEXT,
    host=st.sampled_from(["api.openai.com", "127.0.0.1", "::1", "localhost", "a.b.c"]),
    port=st.integers(1, 65535),
)
def test_any_environment_gives_a_proxy_none_or_a_typed_error(proxy: str, no_proxy: str, host: str, port: int) -> None:
    env = {"HTTPS_PROXY": proxy, "NO_PROXY": no_proxy}
    try:
        found = select_proxy(Origin("https", host, port), env)
    except LocalProtocolError:
        return
    if found is not None:
        assert 0 < found.port < 65536 and found.host
