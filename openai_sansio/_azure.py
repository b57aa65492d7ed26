"""Azure OpenAI: where its requests go and how they authenticate.

Azure serves the same API under ``{endpoint}/openai``, wants an
``api-version`` query parameter on every request, and routes the model
endpoints through a deployment: ``/deployments/{name}/chat/completions``.
It takes either its own ``api-key`` header or a Microsoft Entra ID (Azure
AD) bearer token.  This module works all of that out from the caller's
settings and the environment, with no I/O; a runtime adapter adds the one
thing that needs it (calling an async token provider per attempt).
"""

from __future__ import annotations

import os
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import attrs

from ._call import NOT_GIVEN, NotGiven
from ._config import ClientConfig, Timeout
from ._errors import LocalProtocolError, OpenAIError

__all__ = ["AzureConfig", "AZURE_DEPLOYMENT_PATHS"]

#: The paths (relative to the base URL) that Azure serves per deployment;
#: every other path is served once per resource.
AZURE_DEPLOYMENT_PATHS = frozenset(
    {
        "/completions",
        "/chat/completions",
        "/embeddings",
        "/audio/transcriptions",
        "/audio/translations",
        "/audio/speech",
        "/images/generations",
        "/images/edits",
    }
)

# API versions under which the model is named in the body, not the path.
_UNROUTED_VERSIONS = frozenset({"preview", "latest"})


def _visible_ascii(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise LocalProtocolError(f"{what} must be a non-empty string")
    if not all("\x21" <= c <= "\x7e" for c in value):
        raise LocalProtocolError(f"{what} must be visible ASCII (no spaces or control characters)")
    return value


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # An empty variable counts as unset, as in ClientConfig.from_env.
    return environ.get(name) or None


@attrs.frozen(repr=False)
class AzureConfig:
    """Azure settings after defaults and the environment are applied.

    Build it with ``AzureConfig.resolve``.  ``base_url`` is where every
    path goes (``{azure_endpoint}/openai``, or the caller's own
    ``base_url``); ``azure_deployment`` is only kept when it came with an
    ``azure_endpoint``.  Exactly one credential is in use: ``api_key``
    (sent as ``api-key``), ``azure_ad_token`` (sent as ``Authorization:
    Bearer``) or, when ``uses_token_provider``, a token the runtime fetches
    for each attempt.  The repr never shows a credential.
    """

    api_version: str
    base_url: str
    azure_deployment: str | None = None
    api_key: str | None = None
    azure_ad_token: str | None = None
    uses_token_provider: bool = False

    @classmethod
    def resolve(
        cls,
        *,
        api_version: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        has_token_provider: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> AzureConfig:
        """Apply the environment (``AZURE_OPENAI_API_KEY``,
        ``AZURE_OPENAI_AD_TOKEN``, ``OPENAI_API_VERSION``,
        ``AZURE_OPENAI_ENDPOINT``) to what was given, and check it.

        At most one credential may be given explicitly; when none is, an AD
        token from the environment is preferred over a key from it (as the
        official SDK does).  Anything missing or contradictory raises
        ``OpenAIError`` (``LocalProtocolError`` for a malformed value)
        naming the argument and its environment variable.
        """
        env = os.environ if environ is None else environ
        given = [
            name
            for name, value in (
                ("api_key", api_key),
                ("azure_ad_token", azure_ad_token),
                ("azure_ad_token_provider", True if has_token_provider else None),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise OpenAIError(
                f"{' and '.join(f'`{n}`' for n in given)} were both given: pass only one of "
                "`api_key`, `azure_ad_token` and `azure_ad_token_provider`"
            )
        if not given:
            azure_ad_token = _env(env, "AZURE_OPENAI_AD_TOKEN")
            if azure_ad_token is None:
                api_key = _env(env, "AZURE_OPENAI_API_KEY")
            if api_key is None and azure_ad_token is None:
                raise OpenAIError(
                    "Missing credentials: pass one of `api_key`, `azure_ad_token` or "
                    "`azure_ad_token_provider`, or set AZURE_OPENAI_API_KEY or "
                    "AZURE_OPENAI_AD_TOKEN"
                )
        if api_key is not None and not isinstance(api_key, str):
            raise LocalProtocolError("api_key must be a string")
        if azure_ad_token is not None and not isinstance(azure_ad_token, str):
            raise LocalProtocolError("azure_ad_token must be a string")

        if api_version is None:
            api_version = _env(env, "OPENAI_API_VERSION")
        if api_version is None:
            raise OpenAIError(
                "Missing api_version: pass `api_version` or set OPENAI_API_VERSION "
                "(for example 2024-10-21)"
            )
        api_version = _visible_ascii("api_version", api_version)

        if base_url is not None:
            if azure_endpoint is not None:
                raise OpenAIError("`base_url` and `azure_endpoint` are mutually exclusive: pass one")
            # A deployment only shapes URLs built from an endpoint.
            azure_deployment = None
        else:
            if azure_endpoint is None:
                azure_endpoint = _env(env, "AZURE_OPENAI_ENDPOINT")
            if azure_endpoint is None:
                raise OpenAIError(
                    "Missing endpoint: pass `azure_endpoint` (such as "
                    "https://example-resource.openai.azure.com/) or `base_url`, or set "
                    "AZURE_OPENAI_ENDPOINT"
                )
            if not isinstance(azure_endpoint, str):
                raise LocalProtocolError("azure_endpoint must be a string")
            base_url = azure_endpoint.rstrip("/") + "/openai"
            if azure_deployment is not None:
                azure_deployment = quote(_visible_ascii("azure_deployment", azure_deployment), safe="")
        return cls(
            api_version=api_version,
            base_url=base_url,
            azure_deployment=azure_deployment,
            api_key=api_key,
            azure_ad_token=azure_ad_token,
            uses_token_provider=has_token_provider,
        )

    def route(self, path: str, body: object = None) -> str:
        """The path to request, relative to ``base_url``, for an API
        ``path`` such as ``"/chat/completions"`` with JSON ``body``.

        A deployment path goes under ``/deployments/{name}``: the
        configured ``azure_deployment``, else the body's ``model`` (unless
        ``base_url`` already names a deployment, or ``api_version`` is
        ``preview`` or ``latest``, where Azure reads the model from the
        body).  Every other path is left alone.
        """
        if path not in AZURE_DEPLOYMENT_PATHS:
            return path
        if self.azure_deployment is not None:
            return f"/deployments/{self.azure_deployment}{path}"
        if not isinstance(body, Mapping):
            return path
        model = body.get("model")
        if (
            not isinstance(model, str)
            or not model
            or "/deployments" in urlsplit(self.base_url).path
            or self.api_version.lower() in _UNROUTED_VERSIONS
        ):
            return path
        return f"/deployments/{quote(model, safe='')}{path}"

    def client_config(
        self,
        *,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """The ``ClientConfig`` every call of an Azure client uses: the
        credential in its header, ``api-version`` last in the default query
        (so it wins over a default of the same name), ``OPENAI_ORG_ID`` and
        ``OPENAI_PROJECT_ID`` from the environment when not given.  With a
        token provider the config has no credential: the runtime adds one
        to each attempt (see ``auth_header``)."""
        env = os.environ if environ is None else environ
        query: dict[str, str] = dict(default_query or {})
        query.pop("api-version", None)
        query["api-version"] = self.api_version
        fields: dict[str, Any] = {
            "base_url": self.base_url,
            "organization": organization if organization is not None else _env(env, "OPENAI_ORG_ID"),
            "project": project if project is not None else _env(env, "OPENAI_PROJECT_ID"),
            "default_headers": default_headers,
            "default_query": query,
        }
        if max_retries is not NOT_GIVEN:
            fields["max_retries"] = max_retries
        if timeout is not NOT_GIVEN:
            fields["timeout"] = timeout
        if self.api_key is not None:
            fields["api_key"] = self.api_key
            fields["api_key_header"] = "api-key"
        elif self.azure_ad_token is not None:
            fields["api_key"] = self.azure_ad_token
        return ClientConfig(**fields)

    @staticmethod
    def auth_header(token: object) -> tuple[str, str]:
        """The header field for a token an ``azure_ad_token_provider``
        returned; ``LocalProtocolError`` (never showing the token) when it
        is not a non-empty string that fits in a header."""
        if not isinstance(token, str) or not token:
            raise LocalProtocolError(
                "azure_ad_token_provider must return a non-empty str, "
                f"not {'an empty str' if isinstance(token, str) else type(token).__name__}"
            )
        if not all("\x20" <= c <= "\x7e" for c in token):
            raise LocalProtocolError(
                "the token from azure_ad_token_provider contains characters that cannot be "
                "sent in a header"
            )
        return ("authorization", "Bearer " + token)

    def __repr__(self) -> str:
        if self.api_key is not None:
            credential = "api_key"
        elif self.azure_ad_token is not None:
            credential = "azure_ad_token"
        else:
            credential = "azure_ad_token_provider"
        return (
            f"AzureConfig(api_version={self.api_version!r}, base_url={self.base_url!r}, "
            f"azure_deployment={self.azure_deployment!r}, credential={credential}=<redacted>)"
        )

    __str__ = __repr__
