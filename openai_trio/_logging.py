"""The ``openai_trio`` logger, switched on by ``OPENAI_LOG`` like the official SDK.

Nothing logged here ever contains an API key or a credential header: only
methods, URLs (which carry no secrets: the key travels in a header),
statuses, retry delays and timings.
"""

from __future__ import annotations

import logging
import os

__all__ = ["logger", "setup_logging"]

logger = logging.getLogger("openai_trio")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_configured = False


def setup_logging(environ: dict[str, str] | None = None) -> None:
    """Honour ``OPENAI_LOG=debug|info`` once per process.

    A handler is only added when the application has not configured this
    logger itself, so explicit logging setup always wins.
    """
    global _configured
    if _configured:
        return
    _configured = True
    env = os.environ if environ is None else environ
    level = _LEVELS.get(env.get("OPENAI_LOG", "").strip().lower())
    if level is None:
        return
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s")
        )
        logger.addHandler(handler)
