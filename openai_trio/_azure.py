"""``AzureClient``: the trio client pointed at Azure OpenAI.

Everything that needs no I/O (settings, environment, URL routing, which
header carries the credential) is ``openai_sansio.AzureConfig``.  What is
left here is calling an async Microsoft Entra ID token provider once per
attempt, so a token that expires during backoff is fetched afresh.
"""

from __future__ import annotations

import ssl
from typing import Any, Awaitable, Callable, Mapping, cast

import attrs

from openai_sansio import NOT_GIVEN, AzureConfig, NotGiven, OpenAIError, Request, Timeout
from openai_sansio._azure import _visible_ascii

from ._client import Client
from ._connection import Limits
from ._pool import DEFAULT_MAX_CONNECTIONS, Connector
from ._streams import Exchange, scrub_secret

__all__ = ["AzureClient", "AzureADTokenProvider"]

#: An ``async def`` taking nothing and returning a bearer token.
AzureADTokenProvider = Callable[[], Awaitable[str]]

# Tokens handed out recently, scrubbed from errors: a provider may rotate
# them while calls that used an older one are still running.
_RECENT_TOKENS = 4


class AzureClient(Client):
    """An Azure OpenAI client for trio, a ``Client`` in every other way.

    ::

        async with openai_trio.AzureClient(
            azure_endpoint="https://example-resource.openai.azure.com",
            api_version="2024-10-21",
        ) as client:  # key from AZURE_OPENAI_API_KEY
            await client.chat.completions.create(model="my-deployment", messages=...)

    Pass exactly one credential: ``api_key`` (sent as ``api-key``),
    ``azure_ad_token`` or ``azure_ad_token_provider`` (an ``async``
    function returning a token, awaited before every attempt; each is sent
    as ``Authorization: Bearer``).  Settings not given come from
    ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_AD_TOKEN``,
    ``OPENAI_API_VERSION``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_ORG_ID``
    and ``OPENAI_PROJECT_ID``.  Requests go to ``{azure_endpoint}/openai``
    with ``api-version`` in the query; completions, chat, embeddings, audio
    and images go through ``/deployments/{azure_deployment or model}``.
    ``base_url`` replaces ``azure_endpoint`` for a proxy or a URL that
    already names a deployment.  ``proxy``, ``trust_env`` and
    ``proxy_ssl_context`` choose an HTTP proxy as for ``Client``.

    ``client.realtime.connect(model=...)`` opens a Realtime session at
    ``{base_url}/realtime`` with ``api-version`` and ``deployment``
    (``azure_deployment``, else ``model``) in the query, as the official
    SDK's Azure client does; ``client.responses.connect()`` goes to
    ``{base_url}/responses``.  Both carry the credential as HTTP calls do.
    """

    _requires_api_key = False

    def __init__(
        self,
        *,
        api_version: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: AzureADTokenProvider | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        connector: Connector | None = None,
        proxy: str | NotGiven | None = NOT_GIVEN,
        trust_env: bool = True,
        proxy_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if azure_ad_token_provider is not None and not callable(azure_ad_token_provider):
            raise OpenAIError("azure_ad_token_provider must be an async function returning a token")
        azure = AzureConfig.resolve(
            api_version=api_version,
            azure_endpoint=azure_endpoint,
            azure_deployment=azure_deployment,
            base_url=base_url,
            api_key=api_key,
            azure_ad_token=azure_ad_token,
            has_token_provider=azure_ad_token_provider is not None,
        )
        config = azure.client_config(
            organization=organization,
            project=project,
            default_headers=default_headers,
            default_query=default_query,
            max_retries=max_retries,
            timeout=timeout,
        )
        super().__init__(
            config=config,
            ssl_context=ssl_context,
            max_connections=max_connections,
            connector=connector,
            proxy=proxy,
            trust_env=trust_env,
            proxy_ssl_context=proxy_ssl_context,
        )
        self._azure = azure
        self._token_provider = azure_ad_token_provider
        self._tokens: list[str] = []

    def __repr__(self) -> str:
        return (
            f"<openai_trio.AzureClient base_url={self._config.base_url!r} "
            f"api_version={self._azure.api_version!r}>"
        )

    @property
    def azure(self) -> AzureConfig:
        """The resolved Azure settings (credentials hidden in the repr)."""
        return self._azure

    @property
    def api_version(self) -> str:
        return self._azure.api_version

    def with_options(  # type: ignore[override]
        self,
        *,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: AzureADTokenProvider | None = None,
        api_version: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
    ) -> AzureClient:
        """An ``AzureClient`` with some settings changed that shares this
        client's connection pool; a credential given replaces the one in
        use.  The endpoint and deployment stay as they are."""
        given = [
            n
            for n, v in (
                ("api_key", api_key),
                ("azure_ad_token", azure_ad_token),
                ("azure_ad_token_provider", azure_ad_token_provider),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise OpenAIError(
                f"{' and '.join(f'`{n}`' for n in given)} were both given: pass only one of "
                "`api_key`, `azure_ad_token` and `azure_ad_token_provider`"
            )
        azure = self._azure
        provider = self._token_provider
        if given:
            if api_key is not None and not isinstance(api_key, str):
                raise OpenAIError("api_key must be a string")
            if azure_ad_token is not None and not isinstance(azure_ad_token, str):
                raise OpenAIError("azure_ad_token must be a string")
            provider = azure_ad_token_provider
            azure = attrs.evolve(
                azure,
                api_key=api_key,
                azure_ad_token=azure_ad_token,
                uses_token_provider=provider is not None,
            )
        if api_version is not None:
            azure = attrs.evolve(azure, api_version=_visible_ascii("api_version", api_version))
        old = self._config
        config = azure.client_config(
            organization=old.organization if organization is None else organization,
            project=old.project if project is None else project,
            default_headers=dict(old.default_headers) if default_headers is None else default_headers,
            default_query=dict(old.default_query) if default_query is None else default_query,
            max_retries=old.max_retries if max_retries is NOT_GIVEN else max_retries,
            timeout=old.timeout if timeout is NOT_GIVEN else timeout,
            environ={},
        )
        clone = cast(AzureClient, super().with_options())
        clone._config = config
        clone._azure = azure
        clone._token_provider = provider
        clone._tokens = []
        return clone

    async def _call(self, method: str, path: str, *, body: Any = None, **kwargs: Any) -> Any:
        fields = body
        if fields is None:
            # A multipart upload (audio) names its model among its fields.
            multipart = kwargs.get("multipart")
            fields = getattr(multipart, "fields", None) or getattr(multipart, "_fields", None)
        routed = self._azure.route(path, fields)
        try:
            return await super()._call(method, routed, body=body, **kwargs)
        except OpenAIError as exc:
            for token in self._tokens:
                scrub_secret(exc, token)
            raise

    async def _provider_token(self) -> tuple[str, str] | None:
        """The ``Authorization`` field with a token fetched now from the
        provider (None without one), remembered for scrubbing: HTTP calls
        fetch one per attempt, WebSockets one per connection."""
        provider = self._token_provider
        if provider is None:
            return None
        token = await provider()
        field = AzureConfig.auth_header(token)
        if token not in self._tokens:
            self._tokens.append(token)
            del self._tokens[:-_RECENT_TOKENS]
        return field

    async def _send(self, request: Request, limits: Limits, fresh: bool = False) -> Exchange:
        # Called once per attempt.  The token goes on the wire only: the
        # request kept by errors, logs and raw responses is the one without
        # it.  A caller's own Authorization header wins, as in the SDK.
        if request.header("authorization") is None:
            field = await self._provider_token()
            if field is not None:
                request = attrs.evolve(request, headers=(*request.headers, field))
        return await super()._send(request, limits, fresh)
