"""ClientConfig and Timeout."""

from __future__ import annotations

import math

import attrs
import pytest

from openai_sansio import DEFAULT_BASE_URL, ClientConfig, LocalProtocolError, Origin, Timeout

KEY = "sk-SECRETSECRET-abcdef0123456789"

ENV = {
    "OPENAI_API_KEY": KEY,
    "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1/",
    "OPENAI_ORG_ID": "org-1",
    "OPENAI_PROJECT_ID": "proj-1",
    "UNRELATED": "x",
}


# -- from_env --------------------------------------------------------------------


def test_from_env_reads_a_passed_mapping() -> None:
    cfg = ClientConfig.from_env(ENV)
    assert cfg.api_key == KEY
    assert cfg.base_url == "http://127.0.0.1:8000/v1"
    assert cfg.organization == "org-1"
    assert cfg.project == "proj-1"


def test_from_env_empty_values_mean_unset() -> None:
    env = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "OPENAI_ORG_ID": "", "OPENAI_PROJECT_ID": ""}
    cfg = ClientConfig.from_env(env)
    assert cfg.api_key is None
    assert cfg.base_url == DEFAULT_BASE_URL
    assert cfg.organization is None and cfg.project is None
    assert ClientConfig.from_env({}) == ClientConfig()


def test_from_env_overrides_win_and_none_is_ignored() -> None:
    cfg = ClientConfig.from_env(
        ENV, api_key="sk-other", base_url="https://example.com/api", organization=None, max_retries=5
    )
    assert cfg.api_key == "sk-other"
    assert cfg.base_url == "https://example.com/api"
    assert cfg.organization == "org-1"
    assert cfg.max_retries == 5


def test_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example:8443")
    monkeypatch.delenv("OPENAI_ORG_ID", raising=False)
    monkeypatch.delenv("OPENAI_PROJECT_ID", raising=False)
    cfg = ClientConfig.from_env()
    assert cfg.api_key == KEY
    assert cfg.origin == Origin("https", "proxy.example", 8443)
    assert cfg.organization is None


def test_from_env_still_validates() -> None:
    with pytest.raises(LocalProtocolError, match="base_url"):
        ClientConfig.from_env({"OPENAI_BASE_URL": "not a url"})


# -- base_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin", "base_path"),
    [
        (DEFAULT_BASE_URL, Origin("https", "api.openai.com", 443), "/v1"),
        ("http://localhost", Origin("http", "localhost", 80), ""),
        ("http://localhost/", Origin("http", "localhost", 80), ""),
        ("https://h.example:9000/a/b//", Origin("https", "h.example", 9000), "/a/b"),
        ("http://[::1]:8080/v1", Origin("http", "::1", 8080), "/v1"),
        ("HTTP://Example.COM/v1", Origin("http", "example.com", 80), "/v1"),
    ],
)
def test_valid_base_urls(url: str, origin: Origin, base_path: str) -> None:
    cfg = ClientConfig(base_url=url)
    assert cfg.origin == origin
    assert cfg.base_path == base_path
    assert not cfg.base_url.endswith("/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("api.openai.com/v1", "absolute"),
        ("ftp://h/v1", "absolute"),
        ("https:///v1", "absolute"),
        ("http://h:0", "absolute"),
        ("http://h:99999", "host or port"),
        ("http://h:port", "host or port"),
        ("http://[::1", "host or port"),
        ("https://h/v1?api-version=1", "query"),
        ("https://h/v1#frag", "fragment"),
        ("https://h/v 1", "visible ASCII"),
        ("https://h/v1\r\n", "visible ASCII"),
        ("https://h/\x00", "visible ASCII"),
        ("https://h\u00e9.example/", "visible ASCII"),
        ("", "absolute"),
    ],
)
def test_invalid_base_urls(url: str, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        ClientConfig(base_url=url)


def test_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(LocalProtocolError, match="credentials") as info:
        ClientConfig(base_url="https://user:SECRETPW@h.example/v1")
    assert "SECRETPW" not in str(info.value)


def test_base_url_must_be_a_string() -> None:
    with pytest.raises(LocalProtocolError, match="string"):
        ClientConfig(base_url=b"https://h")  # type: ignore[arg-type]


# -- other fields --------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, True, 2.0, "3", None])
def test_invalid_max_retries(value: object) -> None:
    with pytest.raises(LocalProtocolError, match="max_retries"):
        ClientConfig(max_retries=value)  # type: ignore[arg-type]


def test_api_key_must_be_a_string() -> None:
    with pytest.raises(LocalProtocolError, match="api_key"):
        ClientConfig(api_key=b"sk")  # type: ignore[arg-type]


def test_default_headers_and_query_are_frozen_to_pairs() -> None:
    # (A non-str header value is refused, not str()-ed: see below.)
    cfg = ClientConfig(default_headers={"x-a": "1", "x-n": "2"}, default_query=(("v", "1"),))
    assert cfg.default_headers == (("x-a", "1"), ("x-n", "2"))
    assert cfg.default_query == (("v", "1"),)
    assert ClientConfig(default_headers=None).default_headers == ()
    hash(cfg)


def test_config_is_frozen() -> None:
    cfg = ClientConfig(api_key=KEY)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.api_key = "x"  # type: ignore[misc]
    assert attrs.evolve(cfg, max_retries=0).max_retries == 0


def test_repr_and_str_never_show_the_key() -> None:
    cfg = ClientConfig(api_key=KEY, organization="org-1")
    for text in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert KEY not in text
        assert "SECRET" not in text
        assert "<redacted>" in text
        assert "org-1" in text
    assert "api_key=None" in repr(ClientConfig())


def test_timeout_is_coerced() -> None:
    # As in the official SDK: a number limits each operation, never the whole call.
    assert ClientConfig(timeout=30).timeout == Timeout(connect=30.0, read=30.0, write=30.0, pool=30.0, total=None)
    assert ClientConfig().timeout == Timeout()


# -- Timeout -----------------------------------------------------------------------


def test_timeout_defaults() -> None:
    t = Timeout()
    assert (t.connect, t.read, t.write, t.pool, t.total) == (5.0, 600.0, 600.0, 600.0, None)


def test_coerce_passes_a_timeout_through() -> None:
    t = Timeout(read=1.0)
    assert Timeout.coerce(t) is t


def test_coerce_none_removes_every_limit() -> None:
    t = Timeout.coerce(None)
    assert (t.connect, t.read, t.write, t.pool, t.total) == (None, None, None, None, None)


@pytest.mark.parametrize("value", [2, 2.5, 5, 120, 600, math.inf])
def test_coerce_a_number(value: float) -> None:
    t = Timeout.coerce(value)
    assert t.connect == t.read == t.write == t.pool == float(value)
    assert t.total is None
    assert isinstance(t.read, float)


def test_positional_default_with_keyword_overrides() -> None:
    # The httpx.Timeout spelling the official SDK documents.
    t = Timeout(600, connect=5)
    assert (t.connect, t.read, t.write, t.pool, t.total) == (5.0, 600.0, 600.0, 600.0, None)
    assert t == Timeout()
    t = Timeout(10.0, read=None, total=60)
    assert (t.connect, t.read, t.write, t.pool, t.total) == (10.0, None, 10.0, 10.0, 60.0)
    assert Timeout(None, connect=3) == Timeout(connect=3, read=None, write=None, pool=None)
    copied = Timeout(Timeout(2, total=9), read=1)
    assert (copied.connect, copied.read, copied.write, copied.pool, copied.total) == (2.0, 1.0, 2.0, 2.0, 9.0)
    assert attrs.evolve(Timeout(4), write=1).write == 1.0
    assert isinstance(Timeout(3).pool, float)


def test_signature_shows_which_limits_were_left_unset() -> None:
    import inspect

    params = inspect.signature(Timeout).parameters
    assert [repr(params[n].default) for n in ("timeout", "connect", "read", "write", "pool")] == ["UNSET"] * 5
    assert params["total"].default is None


@pytest.mark.parametrize("value", [True, "10", [1], b"1"])
def test_positional_default_rejects_other_types(value: object) -> None:
    with pytest.raises(LocalProtocolError, match="timeout must be"):
        Timeout(value)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="timeout must be"):
        Timeout(read=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, "10", [1], b"1"])
def test_coerce_rejects_other_types(value: object) -> None:
    with pytest.raises(LocalProtocolError, match="timeout must be"):
        Timeout.coerce(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, math.nan, -math.inf])
def test_coerce_rejects_non_positive_numbers(value: float) -> None:
    with pytest.raises(LocalProtocolError, match="positive"):
        Timeout.coerce(value)


@pytest.mark.parametrize("field", ["connect", "read", "write", "pool", "total"])
def test_each_limit_must_be_positive_or_none(field: str) -> None:
    with pytest.raises(LocalProtocolError, match=field):
        Timeout(**{field: 0.0})
    assert getattr(Timeout(**{field: None}), field) is None
    assert getattr(Timeout(**{field: 0.001}), field) == 0.001


@pytest.mark.parametrize(
    "headers, message",
    [
        ({"x-count": 5}, "must have a str value, not int"),
        ({"x-name": "caf\u00e9"}, "non-ASCII value"),
        ({"x-\u00e9": "v"}, "invalid header name"),
        ({3: "v"}, "invalid header name 'int'"),
        ({"api-key": "sk-secret\r\nx-injected: 1"}, "control character"),
    ],
)
def test_default_headers_are_checked_when_the_client_is_built(headers: dict[object, object], message: str) -> None:
    import openai_trio

    with pytest.raises(LocalProtocolError, match=message) as caught:
        ClientConfig(api_key="sk-test", default_headers=headers)  # type: ignore[arg-type]
    assert "sk-secret" not in str(caught.value)
    # The trio client refuses them at construction too, before any byte.
    with pytest.raises(LocalProtocolError, match=message):
        openai_trio.Client(api_key="sk-test", default_headers=headers)  # type: ignore[arg-type]
    # Surrounding spaces are not part of a value.
    assert ClientConfig(api_key="k", default_headers={"api-key": " v "}).default_headers == (("api-key", "v"),)
