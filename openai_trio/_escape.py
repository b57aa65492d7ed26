"""The escape hatch: ``client.get/post/patch/put/delete`` for endpoints the
generated surface does not type, shaped like the official SDK's.

This module turns their arguments into a ``Client._call``: what to parse
the response as (``cast_to``), how to send the body (JSON, multipart with
``files=``, or raw ``content=``) and the SDK's ``options`` mapping.
"""

from __future__ import annotations

import typing
from typing import Any, Callable, Mapping

from openai_sansio import (
    NOT_GIVEN,
    LocalProtocolError,
    NotGiven,
    Request,
    RequestOptions,
    StreamDecoder,
    Timeout,
    encode_multipart,
)

from ._binary import BinaryResponse
from ._streams import AsyncStream

__all__ = ["escape_call"]

# The official SDK's ``options`` keys and ours, by the name they have here.
_OPTION_KEYS = {
    "headers": "extra_headers",
    "extra_headers": "extra_headers",
    "params": "extra_query",
    "extra_query": "extra_query",
    "extra_json": "extra_body",
    "extra_body": "extra_body",
    "timeout": "timeout",
    "max_retries": "max_retries",
    "idempotency_key": "idempotency_key",
}


def _options(
    options: RequestOptions | Mapping[str, Any] | None,
    *,
    extra_headers: Mapping[str, str | None] | None,
    extra_query: Mapping[str, object] | None,
    extra_body: Mapping[str, object] | None,
    timeout: Timeout | float | NotGiven | None,
    max_retries: int | NotGiven,
) -> RequestOptions:
    merged: dict[str, Any] = {}
    if isinstance(options, RequestOptions):
        merged = {
            "extra_headers": options.extra_headers,
            "extra_query": options.extra_query,
            "extra_body": options.extra_body,
            "timeout": options.timeout,
            "max_retries": options.max_retries,
        }
    elif isinstance(options, Mapping):
        for key, value in options.items():
            name = _OPTION_KEYS.get(key)
            if name is None:
                raise LocalProtocolError(
                    f"unknown request option {key!r}; use one of {sorted(_OPTION_KEYS)}"
                )
            merged[name] = value
    elif options is not None:
        raise LocalProtocolError(
            f"options must be a RequestOptions or a mapping, not {type(options).__name__}"
        )
    headers: dict[str, Any] = dict(merged.get("extra_headers") or {})
    key = merged.pop("idempotency_key", None)
    if key is not None:
        headers["Idempotency-Key"] = key
    headers.update(extra_headers or {})
    query = {**(merged.get("extra_query") or {}), **(extra_query or {})}
    body = {**(merged.get("extra_body") or {}), **(extra_body or {})}
    return RequestOptions(
        extra_headers=headers or None,
        extra_query=query or None,
        extra_body=body or None,
        timeout=merged.get("timeout", NOT_GIVEN) if timeout is NOT_GIVEN else timeout,
        max_retries=merged.get("max_retries", NOT_GIVEN) if max_retries is NOT_GIVEN else max_retries,
    )


def _expect(kind: type) -> Callable[[Any], Any]:
    def check(data: Any) -> Any:
        if not isinstance(data, kind):
            # parse_response reports a TypeError as APIResponseValidationError.
            raise TypeError(f"expected a JSON {'object' if kind is dict else 'array'}, got {type(data).__name__}")
        return data

    return check


def _identity(data: Any) -> Any:
    return data


def _json_parser(cast_to: Any) -> Callable[[Any], Any]:
    """How a decoded JSON value becomes the result (or a stream item)."""
    if cast_to is object or cast_to is Any:
        return _identity
    if cast_to is dict or cast_to is list:
        return _expect(cast_to)
    origin = typing.get_origin(cast_to)
    if origin is dict or origin is list:
        return _expect(origin)
    from_dict = getattr(cast_to, "from_dict", None)
    if isinstance(cast_to, type) and callable(from_dict):
        parse: Callable[[Any], Any] = from_dict
        return parse
    if callable(cast_to) and not isinstance(cast_to, type):
        function: Callable[[Any], Any] = cast_to
        return function
    raise LocalProtocolError(
        "cast_to must be a model class (with from_dict), dict, list, object, bytes, str, "
        f"None, RawResponse, BinaryResponse or a function, not {cast_to!r}"
    )


def _stream_items(cast_to: Any, stream_cls: Any) -> Callable[[Any], Any]:
    if stream_cls is not None:
        if (typing.get_origin(stream_cls) or stream_cls) is not AsyncStream:
            raise LocalProtocolError(f"stream_cls must be AsyncStream or AsyncStream[Item], not {stream_cls!r}")
        args = typing.get_args(stream_cls)
        if args:
            return _json_parser(args[0])
    if cast_to in (None, type(None), bytes, str):
        raise LocalProtocolError("a streamed call decodes JSON events: cast_to must describe one")
    return _json_parser(cast_to)


def escape_call(
    method: str,
    *,
    cast_to: Any,
    body: Mapping[str, object] | None,
    files: Mapping[str, object] | None,
    content: bytes | None,
    content_type: str | None,
    query: Mapping[str, object] | None,
    options: RequestOptions | Mapping[str, Any] | None,
    stream: bool,
    stream_cls: Any,
    extra_headers: Mapping[str, str | None] | None,
    extra_query: Mapping[str, object] | None,
    extra_body: Mapping[str, object] | None,
    timeout: Timeout | float | NotGiven | None,
    max_retries: int | NotGiven,
    random_bytes: Callable[[int], bytes],
) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """The keyword arguments of ``Client._call`` for one escape-hatch call,
    and what to do with its result."""
    if not isinstance(stream, bool):
        raise LocalProtocolError(f"stream must be a bool, not {type(stream).__name__}")
    kwargs: dict[str, Any] = {
        "query": query,
        "options": _options(
            options,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            max_retries=max_retries,
        ),
    }
    if files is not None:
        if content is not None:
            raise LocalProtocolError("pass files= or content=, not both")
        if not isinstance(files, Mapping):
            raise LocalProtocolError(f"files must be a mapping of field names, not {type(files).__name__}")
        if body is not None and not isinstance(body, Mapping):
            raise LocalProtocolError(f"body must be a mapping, not {type(body).__name__}")
        both = set(body or {}) & set(files)
        if both:
            raise LocalProtocolError(f"fields given in both body and files: {sorted(both)}")
        kwargs["multipart"] = encode_multipart({**(body or {}), **files}, random_bytes=random_bytes(16))
    elif content is not None or content_type is not None:
        if body is not None:
            raise LocalProtocolError("pass body= or content=, not both")
        kwargs["content"] = content
        kwargs["content_type"] = content_type
    else:
        kwargs["body"] = body

    finish: Callable[[Any], Any] = _identity
    if stream:
        parse_item = _stream_items(cast_to, stream_cls)

        def make_decoder(request: Request) -> StreamDecoder[Any]:
            return StreamDecoder(parse_item, request=request)

        kwargs["parse"] = _identity
        kwargs["stream_decoder"] = make_decoder
        return kwargs, finish
    if stream_cls is not None:
        raise LocalProtocolError("stream_cls is only used with stream=True")

    from ._client import RawResponse

    if cast_to is None or cast_to is type(None):
        kwargs["parse"] = None
        kwargs["response_kind"] = "empty"
    elif cast_to in (bytes, str, BinaryResponse) or cast_to is RawResponse or typing.get_origin(cast_to) is RawResponse:
        kwargs["parse"] = None
        kwargs["response_kind"] = "binary"
        if cast_to is bytes:
            finish = BinaryResponse.read
        elif cast_to is str:
            finish = _text
        elif cast_to is not BinaryResponse:
            kwargs["raw"] = True
    else:
        kwargs["parse"] = _json_parser(cast_to)
    return kwargs, finish


def _text(response: BinaryResponse) -> str:
    return response.text
