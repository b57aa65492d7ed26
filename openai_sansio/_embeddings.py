"""Embeddings sent as base64: what to ask for and how to turn it back into
floats.

A float32 vector travels in about a third of the bytes as base64 than as
JSON numbers, and decodes faster, so (like the official SDK) a caller who did
not choose an ``encoding_format`` gets ``"base64"`` asked on their behalf and
float lists back.  A caller who chose a format gets exactly what the server
sent.
"""

from __future__ import annotations

import array
import base64
import sys
from typing import Any, Mapping

from ._call import NOT_GIVEN, NotGiven

__all__ = [
    "embeddings_encoding_format",
    "decode_base64_embedding",
    "decode_embeddings_response",
]


def embeddings_encoding_format(requested: str | NotGiven | None) -> str:
    """The ``encoding_format`` to put in the request body: the caller's own
    choice, or ``"base64"`` when they made none."""
    if requested is NOT_GIVEN or requested is None:
        return "base64"
    return requested


def decode_base64_embedding(value: str | bytes, *, use_numpy: bool = False) -> list[float]:
    """The floats packed in ``value``: base64 of little-endian IEEE 754
    float32 numbers.

    Raises ``ValueError`` when ``value`` is not strict base64 or its bytes
    are not a whole number of float32 values.  ``use_numpy=True`` decodes
    with numpy when it is installed (faster for long vectors; the result is
    the same list).
    """
    try:
        # validate=True: a stray character is an error, not silently skipped.
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"embedding is not valid base64: {exc}") from None
    if len(raw) % 4:
        raise ValueError(
            f"embedding has {len(raw)} bytes, not a whole number of float32 values"
        )
    if use_numpy:
        try:
            import numpy
        except ImportError:
            pass
        else:
            floats: list[float] = numpy.frombuffer(raw, dtype="<f4").tolist()
            return floats
    values = array.array("f")
    values.frombytes(raw)
    if sys.byteorder == "big":  # pragma: no cover - every CI runner is little-endian
        values.byteswap()
    return values.tolist()


def decode_embeddings_response(
    data: Any,
    requested_format: str | NotGiven | None = NOT_GIVEN,
    *,
    use_numpy: bool = False,
) -> Any:
    """The decoded JSON of a create-embeddings response with every base64
    ``embedding`` replaced by its list of floats.

    ``requested_format`` is the ``encoding_format`` the *caller* passed
    (``NOT_GIVEN`` or None if they passed none).  Only when they passed none
    was base64 asked for on their behalf (see ``embeddings_encoding_format``),
    so only then is anything decoded; otherwise ``data`` comes back as it is.
    The input is never changed in place.  A malformed embedding raises
    ``ValueError`` (``Call.parse_response`` reports that as
    ``APIResponseValidationError``).
    """
    if (requested_format is not NOT_GIVEN and requested_format is not None) or not isinstance(
        data, Mapping
    ):
        return data
    items = data.get("data")
    if not isinstance(items, list) or not any(
        isinstance(item, Mapping) and isinstance(item.get("embedding"), str) for item in items
    ):
        return data
    decoded: list[Any] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and isinstance(item.get("embedding"), str):
            try:
                floats = decode_base64_embedding(item["embedding"], use_numpy=use_numpy)
            except ValueError as exc:
                raise ValueError(f"data[{index}]: {exc}") from None
            item = {**item, "embedding": floats}
        decoded.append(item)
    return {**data, "data": decoded}
