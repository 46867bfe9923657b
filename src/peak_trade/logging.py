"""Structured logging with structlog.

:func:`configure_logging` sets up one processor pipeline: context vars,
log level, logger name, ISO timestamps, exception rendering, **secret
redaction**, then a renderer: a human console renderer when the stream is a
TTY, JSON lines otherwise (or as forced by ``fmt``). Library code only calls
:func:`get_logger`; configuring is the application's job (``peaktrade run``
does it from ``[monitoring]``).

:func:`redact_secrets` is a plain structlog processor, usable in any
application's own pipeline: it masks the value of every key that names a
secret (``api_key``, ``password``, ``token``, ...) at any depth, and the
password part of credentials embedded in URLs (``redis://:pw@host``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog

__all__ = [
    "LogFormat",
    "REDACTED",
    "configure_logging",
    "get_logger",
    "is_secret_key",
    "mask_url_credentials",
    "redact_secrets",
]

LogFormat = Literal["auto", "console", "json"]
REDACTED = "***"

_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "authorization",
    "private_key",
    "privatekey",
    "credential",
    "signature",
    "cookie",
)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@"
)


def is_secret_key(key: str) -> bool:
    """True if a mapping key names a secret (case-insensitive, ``-`` treated as ``_``)."""
    k = key.lower().replace("-", "_")
    return any(word in k for word in _SECRET_WORDS)


def mask_url_credentials(text: str) -> str:
    """Replace the password in every ``scheme://user:password@`` with ``***``."""
    if "://" not in text:
        return text
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_credentials(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and is_secret_key(k) and v is not None
                else _redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in keys, nested mappings and URLs."""
    for key, value in list(event_dict.items()):
        if is_secret_key(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


def configure_logging(
    level: str = "INFO",
    fmt: LogFormat = "auto",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog (and route stdlib ``logging`` through the same renderer)."""
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_secrets,
    ]
    renderer: Any
    if use_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())

    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )

    # stdlib loggers (uvicorn, redis, ...) go through the same pipeline and renderer.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger bound to ``name`` (shown as ``logger``)."""
    if name is not None:
        initial.setdefault("logger", name)
    return structlog.get_logger().bind(**initial)
