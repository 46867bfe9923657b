"""Structured logging with structlog, safe for a library to use before anyone configures it.

:func:`configure_logging` sets up one processor pipeline: context vars, log
level, logger name, ISO timestamps, exception rendering, **secret
redaction**, then a renderer: a human console renderer when the stream is a
TTY, JSON lines otherwise (or as forced by ``fmt``), and a last pass that masks
passwords in URLs in the rendered text (tracebacks, object reprs). stdlib
``logging`` records (uvicorn, redis, ...) go through the same pipeline.
Library code only calls :func:`get_logger`; configuring is the application's
job (``peaktrade run`` does it from ``[monitoring]``).

:func:`get_logger` returns a lazy logger: it looks up the configuration at
every call, so a module-level ``_log = get_logger(__name__)`` made at import
follows a later :func:`configure_logging` (level, format, stream). Where a
record goes:

* after :func:`configure_logging`: its pipeline;
* after the application's own ``structlog.configure(...)``: that pipeline,
  with our events redacted before it (keys, URLs, exceptions rendered as
  redacted text) and the rendered output masked after it;
* with structlog unconfigured: the stdlib logger of the same name
  (``logging.getLogger("peak_trade.store")``), so the application's
  ``logging`` configuration applies; with none at all, Python's last-resort
  handler prints WARNING and above to stderr, and nothing below. A library
  never prints to stdout on its own.

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
    "mask_rendered",
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
# A URL runs from its scheme to the next whitespace. Its password is
# everything between the first ':' of the userinfo and the *last* '@' of that
# run: a password may hold a raw '@' or '/' (invalid unencoded, but users write
# them), so the host is what follows the last '@'. A query or path holding an
# '@' after a ':' gets masked too: over-masking beats leaking.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>\S*)")


def is_secret_key(key: str) -> bool:
    """True if a mapping key names a secret (case-insensitive, ``-`` treated as ``_``)."""
    k = key.lower().replace("-", "_")
    return any(word in k for word in _SECRET_WORDS)


def _mask_one(match: re.Match[str]) -> str:
    rest = match["rest"]
    at = rest.rfind("@")
    colon = rest.find(":", 0, at) if at > 0 else -1
    if colon < 0:
        return match[0]
    return f"{match['scheme']}{rest[:colon]}:{REDACTED}@{rest[at + 1 :]}"


def mask_url_credentials(text: str) -> str:
    """Replace the password in every ``scheme://user:password@host`` with ``***``.

    The scheme may be in any case (``REDIS://``); the whole password is masked
    even when it holds a raw ``@`` or ``/``.
    """
    if "://" not in text:
        return text
    return _URL.sub(_mask_one, text)


def _redact(value: Any, *, reprs: bool = False) -> Any:
    """``value`` with secrets masked: strings, mappings (secret keys), lists and tuples.

    With ``reprs``, any other object whose ``repr`` holds a URL with a password
    is replaced by its masked ``repr`` (for pipelines that render later).
    """
    if isinstance(value, str):
        return mask_url_credentials(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and is_secret_key(k) and v is not None
                else _redact(v, reprs=reprs)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, reprs=reprs) for v in value)
    if reprs and value is not None and not isinstance(value, int | float | bytes):
        text = repr(value)
        masked = mask_url_credentials(text)
        if masked != text:
            return masked
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


def mask_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """structlog processor for the *end* of a chain, after the renderer.

    Masks passwords in URLs anywhere in the rendered line (tracebacks, object
    reprs); a chain that hands an event dict on (stdlib's ``ProcessorFormatter``)
    gets it redacted instead.
    """
    if isinstance(rendered, str):
        return mask_url_credentials(rendered)
    if isinstance(rendered, bytes):
        text = rendered.decode("utf-8", "surrogateescape")
        return mask_url_credentials(text).encode("utf-8", "surrogateescape")
    return _redact(rendered, reprs=True)


def _exception_as_text(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Render ``exc_info`` now (plain traceback, no local variables), so it can be redacted."""
    if event_dict.get("exc_info"):
        return structlog.processors.format_exc_info(logger, method, event_dict)
    event_dict.pop("exc_info", None)
    return event_dict


def _guard_event(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """First processor for our events in a pipeline we did not build."""
    return redact_secrets(logger, method, _exception_as_text(logger, method, event_dict))


def configure_logging(
    level: str = "INFO",
    fmt: LogFormat = "auto",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog (and route stdlib ``logging`` through the same renderer).

    Loggers from :func:`get_logger` follow it at once, including module-level
    ones created before this call. Call it again to change level, format or
    stream; ``structlog.reset_defaults()`` undoes it.
    """
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
    ]
    renderer: Any
    if use_json:
        # the traceback becomes the `exception` string *before* redaction
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        # plain tracebacks: rich's default shows local variables, secrets included
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    shared.append(redact_secrets)

    structlog.configure(
        processors=[*shared, renderer, mask_rendered],
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
                mask_rendered,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)


# ---------------------------------------------------------------- the lazy logger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _method_for(level: int) -> str:
    """The method of the highest standard level at or below ``level`` (``debug`` at least)."""
    for name in ("critical", "error", "warning", "info"):
        if level >= _LEVELS[name]:
            return name
    return "debug"


_DEFAULT_NAME = "peak_trade"


def _render_plain(event_dict: Mapping[str, Any]) -> str:
    """``event key=value ...`` (and the traceback on the next lines) for a stdlib record."""
    fields = dict(event_dict)
    fields.pop("logger", None)  # the record's name says it
    event = fields.pop("event", "")
    exception = fields.pop("exception", None)
    text = " ".join([str(event), *(f"{k}={v!r}" for k, v in fields.items())])
    if exception:
        text = f"{text}\n{exception}"
    return mask_url_credentials(text)


class _LazyLogger:
    """What :func:`get_logger` returns: resolves the logging configuration at each call.

    The methods of a structlog bound logger: ``debug`` ... ``critical``,
    ``exception``, ``log``, ``bind``/``unbind``/``try_unbind``/``new`` (which
    return lazy loggers too).
    """

    __slots__ = ("_context", "_name")

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context
        name = context.get("logger")
        self._name = name if isinstance(name, str) and name else _DEFAULT_NAME

    def __repr__(self) -> str:
        return f"<peak_trade logger {self._name!r} context={sorted(self._context)!r}>"

    # ------------------------------------------------------------ context

    def bind(self, **values: Any) -> _LazyLogger:
        return _LazyLogger({**self._context, **values})

    def new(self, **values: Any) -> _LazyLogger:
        return _LazyLogger(
            {"logger": self._context["logger"], **values}
            if "logger" in self._context
            else dict(values)
        )

    def unbind(self, *keys: str) -> _LazyLogger:
        context = dict(self._context)
        for key in keys:
            del context[key]  # KeyError, as structlog's unbind
        return _LazyLogger(context)

    def try_unbind(self, *keys: str) -> _LazyLogger:
        return _LazyLogger({k: v for k, v in self._context.items() if k not in keys})

    # ------------------------------------------------------------ emitting

    def _emit(self, method: str, event: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        if structlog.is_configured():
            processors = structlog.get_config()["processors"]
            if mask_rendered in processors:  # our own pipeline (configure_logging)
                bound = structlog.get_logger(self._name).bind(**self._context)
            else:  # the application's: redact our events before and after it
                bound = structlog.wrap_logger(
                    None,
                    processors=[_guard_event, *processors, mask_rendered],
                    logger_factory_args=(self._name,),
                ).bind(**self._context)
            return getattr(bound, method)(event, *args, **kw)
        level = _LEVELS[method]
        std = logging.getLogger(self._name)
        if not std.isEnabledFor(level):
            return None
        if method == "exception":
            kw.setdefault("exc_info", True)
        if args and isinstance(event, str):
            try:
                event = event % args
            except (TypeError, ValueError):
                event = " ".join([event, *map(repr, args)])
        event_dict: dict[str, Any] = {**self._context, **kw, "event": event}
        event_dict = dict(_guard_event(std, method, event_dict))
        std.log(level, _render_plain(event_dict))
        return None

    def debug(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("debug", event, args, kw)

    def info(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("info", event, args, kw)

    msg = info

    def warning(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("warning", event, args, kw)

    warn = warning

    def error(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("error", event, args, kw)

    def exception(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("exception", event, args, kw)

    def critical(self, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit("critical", event, args, kw)

    fatal = critical

    def log(self, level: int, event: Any = None, *args: Any, **kw: Any) -> Any:
        return self._emit(_method_for(level), event, args, kw)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A lazy logger bound to ``name`` (shown as ``logger``); see the module docstring.

    Safe to create at import time: each call looks up the configuration
    current at that moment.
    """
    if name is not None:
        initial.setdefault("logger", name)
    return _LazyLogger(initial)
