"""Azure OpenAI in the core: settings from arguments and the environment,
the deployment routing, and which header carries the credential."""

from __future__ import annotations

import pytest

from openai_sansio import (
    AZURE_DEPLOYMENT_PATHS,
    AzureConfig,
    Call,
    ClientConfig,
    LocalProtocolError,
    OpenAIError,
    new_idempotency_key,
)

ENDPOINT = "https://example-resource.openai.azure.com/"
VERSION = "2024-10-21"
KEY = "azure-SECRET-key-1234"
TOKEN = "eyJ-SECRET-token"


def resolve(**kwargs: object) -> AzureConfig:
    kwargs.setdefault("environ", {})
    return AzureConfig.resolve(**kwargs)  # type: ignore[arg-type]


def keyed(**kwargs: object) -> AzureConfig:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("api_version", VERSION)
    if "base_url" not in kwargs:
        kwargs.setdefault("azure_endpoint", ENDPOINT)
    return resolve(**kwargs)


def request_for(azure: AzureConfig, method: str, path: str, body: dict[str, object] | None = None) -> object:
    call = Call(
        azure.client_config(environ={}),
        method,
        azure.route(path, body),
        body=body,
        idempotency_key=None if method == "GET" else new_idempotency_key(bytes(16)),
    )
    return call.request()


# -- resolving settings -------------------------------------------------------------


def test_endpoint_becomes_the_openai_base_url() -> None:
    azure = keyed()
    assert azure.base_url == "https://example-resource.openai.azure.com/openai"
    assert azure.api_version == VERSION
    assert azure.azure_deployment is None
    assert keyed(azure_endpoint="https://r.example").base_url == "https://r.example/openai"


def test_environment_fills_in_what_was_not_given() -> None:
    env = {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": "https://env.example/",
        "OPENAI_API_VERSION": "2025-01-01-preview",
    }
    azure = resolve(environ=env)
    assert (azure.api_key, azure.base_url, azure.api_version) == (
        KEY,
        "https://env.example/openai",
        "2025-01-01-preview",
    )
    # Arguments win over the environment.
    azure = resolve(environ=env, api_version="v2", azure_endpoint="https://arg.example", api_key="k2")
    assert (azure.api_key, azure.base_url, azure.api_version) == ("k2", "https://arg.example/openai", "v2")
    # An explicit credential of another kind means the key in the
    # environment is not used at all.
    azure = resolve(environ=env, azure_ad_token=TOKEN)
    assert (azure.api_key, azure.azure_ad_token) == (None, TOKEN)
    azure = resolve(environ=env, has_token_provider=True)
    assert (azure.api_key, azure.azure_ad_token, azure.uses_token_provider) == (None, None, True)


def test_ad_token_from_the_environment_is_preferred_over_a_key_from_it() -> None:
    env = {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_AD_TOKEN": TOKEN, "OPENAI_API_VERSION": VERSION}
    azure = resolve(environ=env, azure_endpoint=ENDPOINT)
    assert (azure.api_key, azure.azure_ad_token) == (None, TOKEN)


def test_empty_environment_variables_count_as_unset() -> None:
    env = {"AZURE_OPENAI_API_KEY": "", "AZURE_OPENAI_ENDPOINT": "", "OPENAI_API_VERSION": ""}
    with pytest.raises(OpenAIError, match="AZURE_OPENAI_API_KEY"):
        resolve(environ=env)


def test_missing_credentials() -> None:
    with pytest.raises(OpenAIError, match="Missing credentials") as info:
        resolve(api_version=VERSION, azure_endpoint=ENDPOINT)
    for name in ("api_key", "azure_ad_token", "azure_ad_token_provider", "AZURE_OPENAI_API_KEY"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    "given",
    [
        {"api_key": KEY, "azure_ad_token": TOKEN},
        {"api_key": KEY, "has_token_provider": True},
        {"azure_ad_token": TOKEN, "has_token_provider": True},
    ],
)
def test_only_one_credential(given: dict[str, object]) -> None:
    with pytest.raises(OpenAIError, match="pass only one") as info:
        resolve(api_version=VERSION, azure_endpoint=ENDPOINT, **given)
    assert KEY not in str(info.value) and TOKEN not in str(info.value)


def test_missing_api_version() -> None:
    with pytest.raises(OpenAIError, match="OPENAI_API_VERSION"):
        resolve(api_key=KEY, azure_endpoint=ENDPOINT)


@pytest.mark.parametrize("version", ["", "2024 10", "v\r\n1", 20241021])
def test_api_version_must_be_visible_ascii(version: object) -> None:
    with pytest.raises(LocalProtocolError, match="api_version"):
        resolve(api_key=KEY, azure_endpoint=ENDPOINT, api_version=version)


def test_endpoint_or_base_url() -> None:
    with pytest.raises(OpenAIError, match="AZURE_OPENAI_ENDPOINT"):
        resolve(api_key=KEY, api_version=VERSION)
    with pytest.raises(OpenAIError, match="mutually exclusive"):
        resolve(api_key=KEY, api_version=VERSION, azure_endpoint=ENDPOINT, base_url="https://p.example/openai")
    with pytest.raises(LocalProtocolError, match="azure_endpoint"):
        resolve(api_key=KEY, api_version=VERSION, azure_endpoint=b"https://x")
    with pytest.raises(LocalProtocolError, match="azure_deployment"):
        keyed(azure_deployment="my dep")


def test_credentials_must_be_strings() -> None:
    with pytest.raises(LocalProtocolError, match="api_key"):
        resolve(api_key=b"k", api_version=VERSION, azure_endpoint=ENDPOINT)
    with pytest.raises(LocalProtocolError, match="azure_ad_token"):
        resolve(azure_ad_token=1, api_version=VERSION, azure_endpoint=ENDPOINT)


def test_repr_never_shows_a_credential() -> None:
    for azure, kind in (
        (keyed(), "api_key"),
        (resolve(azure_ad_token=TOKEN, api_version=VERSION, azure_endpoint=ENDPOINT), "azure_ad_token"),
        (resolve(has_token_provider=True, api_version=VERSION, azure_endpoint=ENDPOINT), "azure_ad_token_provider"),
    ):
        for text in (repr(azure), str(azure), repr(azure.client_config(environ={}))):
            assert "SECRET" not in text
        assert f"credential={kind}=<redacted>" in repr(azure)
        assert VERSION in repr(azure)


# -- routing ------------------------------------------------------------------------


def test_the_deployment_paths_are_the_official_sdks() -> None:
    assert {
        "/completions",
        "/chat/completions",
        "/embeddings",
        "/audio/transcriptions",
        "/audio/translations",
        "/audio/speech",
        "/images/generations",
        "/images/edits",
    } == AZURE_DEPLOYMENT_PATHS


@pytest.mark.parametrize("path", sorted(AZURE_DEPLOYMENT_PATHS))
def test_model_paths_go_through_the_models_deployment(path: str) -> None:
    assert keyed().route(path, {"model": "gpt-4o", "x": 1}) == f"/deployments/gpt-4o{path}"


@pytest.mark.parametrize("path", sorted(AZURE_DEPLOYMENT_PATHS))
def test_a_configured_deployment_wins_over_the_model(path: str) -> None:
    azure = keyed(azure_deployment="prod-4o")
    assert azure.azure_deployment == "prod-4o"
    assert azure.route(path, {"model": "gpt-4o"}) == f"/deployments/prod-4o{path}"
    assert azure.route(path, None) == f"/deployments/prod-4o{path}"


@pytest.mark.parametrize(
    "path", ["/models", "/files", "/batches", "/assistants", "/responses", "/chat/completions/abc", "/embeddings/x"]
)
def test_other_paths_are_left_alone(path: str) -> None:
    for azure in (keyed(), keyed(azure_deployment="d")):
        assert azure.route(path, {"model": "gpt-4o"}) == path


@pytest.mark.parametrize("body", [None, {}, {"model": None}, {"model": ""}, {"model": 3}, ["model"], "model"])
def test_no_usable_model_means_no_deployment(body: object) -> None:
    assert keyed().route("/chat/completions", body) == "/chat/completions"


@pytest.mark.parametrize("version", ["preview", "latest", "PREVIEW", "Latest"])
def test_preview_and_latest_read_the_model_from_the_body(version: str) -> None:
    assert keyed(api_version=version).route("/embeddings", {"model": "m"}) == "/embeddings"
    # ...but a deployment the caller configured is still a deployment.
    assert keyed(api_version=version, azure_deployment="d").route("/embeddings", {}) == "/deployments/d/embeddings"


def test_a_base_url_that_names_a_deployment_is_not_routed_again() -> None:
    azure = keyed(base_url="https://proxy.example/openai/deployments/fixed")
    assert azure.route("/chat/completions", {"model": "m"}) == "/chat/completions"
    # A deployment only applies with an endpoint, as in the official SDK.
    azure = keyed(base_url="https://proxy.example/openai", azure_deployment="ignored")
    assert azure.azure_deployment is None
    assert azure.route("/chat/completions", {"model": "m"}) == "/deployments/m/chat/completions"


def test_model_names_are_percent_encoded_into_one_segment() -> None:
    assert keyed().route("/completions", {"model": "a/b c?d#e"}) == "/deployments/a%2Fb%20c%3Fd%23e/completions"


# -- the requests it leads to ----------------------------------------------------------


def test_api_key_request() -> None:
    request = request_for(keyed(), "POST", "/chat/completions", {"model": "gpt-4o", "messages": []})
    assert request.target == (  # type: ignore[attr-defined]
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    )
    assert request.header("api-key") == KEY  # type: ignore[attr-defined]
    assert request.header("authorization") is None  # type: ignore[attr-defined]
    assert KEY not in repr(request)
    request = request_for(keyed(), "GET", "/models")
    assert request.target == "/openai/models?api-version=2024-10-21"  # type: ignore[attr-defined]


def test_ad_token_request() -> None:
    azure = resolve(azure_ad_token=TOKEN, api_version=VERSION, azure_endpoint=ENDPOINT)
    request = request_for(azure, "GET", "/files")
    assert request.header("authorization") == f"Bearer {TOKEN}"  # type: ignore[attr-defined]
    assert request.header("api-key") is None  # type: ignore[attr-defined]
    assert TOKEN not in repr(request)


def test_token_provider_config_carries_no_credential() -> None:
    azure = resolve(has_token_provider=True, api_version=VERSION, azure_endpoint=ENDPOINT)
    config = azure.client_config(environ={})
    assert config.api_key is None
    request = request_for(azure, "GET", "/models")
    assert request.header("authorization") is None  # type: ignore[attr-defined]
    assert request.header("api-key") is None  # type: ignore[attr-defined]


def test_api_version_is_last_and_wins_over_a_default_query() -> None:
    config = keyed().client_config(default_query={"api-version": "old", "a": "1"}, environ={})
    assert config.default_query == (("a", "1"), ("api-version", VERSION))


def test_client_config_reads_org_and_project_from_the_environment() -> None:
    env = {"OPENAI_ORG_ID": "org-env", "OPENAI_PROJECT_ID": "proj-env", "OPENAI_API_KEY": "sk-not-for-azure"}
    config = keyed().client_config(environ=env, max_retries=5, timeout=7)
    assert (config.organization, config.project, config.max_retries) == ("org-env", "proj-env", 5)
    assert config.timeout.read == 7.0
    assert config.api_key == KEY
    config = keyed().client_config(environ=env, organization="org-arg")
    assert config.organization == "org-arg"


@pytest.mark.parametrize("token", ["", None, 12, b"tok"])
def test_auth_header_rejects_what_is_not_a_token(token: object) -> None:
    with pytest.raises(LocalProtocolError, match="azure_ad_token_provider must return a non-empty str"):
        AzureConfig.auth_header(token)


@pytest.mark.parametrize("token", ["SECRET\r\nx-evil: 1", "SECRET\x00", "SECRET\u00e9"])
def test_auth_header_rejects_a_token_that_cannot_be_sent(token: str) -> None:
    with pytest.raises(LocalProtocolError, match="cannot be sent") as info:
        AzureConfig.auth_header(token)
    assert "SECRET" not in str(info.value)


def test_auth_header() -> None:
    assert AzureConfig.auth_header(TOKEN) == ("authorization", f"Bearer {TOKEN}")


# -- ClientConfig.api_key_header -----------------------------------------------------


def test_api_key_header_must_be_a_redacted_header() -> None:
    with pytest.raises(LocalProtocolError, match="api_key_header"):
        ClientConfig(api_key=KEY, api_key_header="x-my-key")
    config = ClientConfig(api_key=KEY, api_key_header="x-api-key")
    call = Call(config, "GET", "/models")
    assert call.request().header("x-api-key") == KEY
    assert KEY not in repr(call.request())
