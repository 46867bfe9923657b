"""Shared plumbing of every decorator: what is being wrapped, and how to wrap it.

Every pattern decides **once, at decoration time**, what kind of callable it
wraps (:func:`call_kind`), never per call:

* ``async def`` functions, objects whose ``__call__`` is ``async def``, and
  ``functools.partial`` of either are awaited (:data:`CallKind.ASYNC`);
* generator and async generator functions do their work while they are
  iterated, after the call returned: only the circuit breaker protects that
  iteration; every other pattern refuses them (:func:`refuse_generators`)
  rather than protect nothing;
* everything else is called synchronously.

:func:`wraps` is ``functools.wraps`` plus ``__defaults__`` and
``__kwdefaults__``, which ``functools.wraps`` does not copy. The wrapper's own
parameters are ``*args, **kwargs``, so the copied defaults are metadata only
(CPython applies defaults to named parameters, and a wrapper has none);
``inspect.signature`` follows ``__wrapped__`` to the original.

:func:`exception_types` validates the exception arguments of every pattern
(``expected_exception``, ``exclude``, ``exceptions``) at construction.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from peak_trade.errors import InvalidArgumentError

__all__ = [
    "CallKind",
    "call_kind",
    "describe",
    "exception_types",
    "is_async",
    "refuse_generators",
    "wrap",
    "wraps",
]

F = TypeVar("F", bound=Callable[..., Any])
W = TypeVar("W", bound=Callable[..., Any])


class CallKind(enum.Enum):
    """What calling a callable gives back."""

    SYNC = "function"
    ASYNC = "async function"
    GENERATOR = "generator function"
    ASYNC_GENERATOR = "async generator function"

    @property
    def is_generator(self) -> bool:
        return self is CallKind.GENERATOR or self is CallKind.ASYNC_GENERATOR


def _kind_of_function(func: Any) -> CallKind | None:
    # inspect's checks unwrap bound methods and functools.partial themselves
    if inspect.isasyncgenfunction(func):
        return CallKind.ASYNC_GENERATOR
    if inspect.isgeneratorfunction(func):
        return CallKind.GENERATOR
    if inspect.iscoroutinefunction(func):
        return CallKind.ASYNC
    return None


def call_kind(func: Callable[..., Any]) -> CallKind:
    """The kind of ``func``: functions, bound methods, partials and callable objects."""
    target: Any = func
    while isinstance(target, functools.partial | staticmethod):
        target = target.func if isinstance(target, functools.partial) else target.__func__
    kind = _kind_of_function(target)
    if kind is not None:
        return kind
    if isinstance(target, type) or inspect.isroutine(target):
        return CallKind.SYNC  # calling a class builds an instance: that call is synchronous
    # an object: Python calls type(obj).__call__, so that is what decides
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the method, not callable()
    kind = _kind_of_function(call) if call is not None else None
    return kind if kind is not None else CallKind.SYNC


def is_async(func: Callable[..., Any]) -> bool:
    """True when calling ``func`` gives a coroutine to await (see :func:`call_kind`)."""
    return call_kind(func) is CallKind.ASYNC


def describe(func: Callable[..., Any]) -> str:
    """How an error message names ``func``: its qualified name, else its ``repr``."""
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or func)


def refuse_generators(func: Callable[..., Any], pattern: str, kind: CallKind | None = None) -> None:
    """Raise :class:`InvalidArgumentError` if ``func`` is a (sync or async) generator function."""
    kind = kind if kind is not None else call_kind(func)
    if not kind.is_generator:
        return
    name = describe(func)
    raise InvalidArgumentError(
        f"{pattern} cannot protect the {kind.value} {name!r}: calling it only creates "
        "the generator, and the work runs later, while it is iterated, unprotected.",
        hint=(
            f"Apply {pattern} to a function that does one unit of work (fetch one page) and "
            "call that from the generator, or to a function that consumes the generator "
            f"(return list({name}(...))). A circuit breaker can protect the iteration itself."
        ),
        context={"pattern": pattern, "function": name, "kind": kind.value},
    )


def wraps(func: Callable[..., Any]) -> Callable[[W], W]:
    """``functools.wraps(func)``, also copying ``__defaults__`` and ``__kwdefaults__``."""

    def decorate(wrapper: W) -> W:
        functools.update_wrapper(wrapper, func)
        for attr in ("__defaults__", "__kwdefaults__"):
            value = getattr(func, attr, None)  # only functions (and bound methods) have them
            if value is not None:
                setattr(wrapper, attr, value)
        return wrapper

    return decorate


def wrap(
    func: F,
    sync_call: Callable[..., Any],
    async_call: Callable[..., Awaitable[Any]],
    *,
    pattern: str,
) -> F:
    """Return ``func`` wrapped by ``sync_call`` or ``async_call`` as fits, with its metadata.

    ``sync_call(func, args, kwargs)`` / ``await async_call(func, args, kwargs)``.
    Generator functions are refused (see :func:`refuse_generators`).
    """
    kind = call_kind(func)
    refuse_generators(func, pattern, kind)
    if kind is CallKind.ASYNC:

        @wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await async_call(func, args, kwargs)

        return async_wrapper  # type: ignore[return-value]

    @wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        return sync_call(func, args, kwargs)

    return sync_wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- exception arguments


def _flatten(value: object, out: list[object]) -> None:
    if isinstance(value, tuple | list):
        for item in value:
            _flatten(item, out)
    elif isinstance(value, types.UnionType):
        for item in value.__args__:
            _flatten(item, out)
    else:
        out.append(value)


def exception_types(
    argument: str, value: object, *, allow_empty: bool = False
) -> tuple[type[BaseException], ...]:
    """``value`` (a class, a tuple or list of classes, or ``A | B``) as a flat tuple.

    Raises :class:`InvalidArgumentError` naming ``argument`` and what was given
    when an item is not an exception class, so a mistake fails at construction,
    not with a ``TypeError`` from ``isinstance`` at the first failure.
    """
    items: list[object] = []
    _flatten(value, items)
    bad = [
        item for item in items if not (isinstance(item, type) and issubclass(item, BaseException))
    ]
    if bad:
        first = bad[0]
        given = f"the string {first!r}" if isinstance(first, str) else repr(first)
        example = first if isinstance(first, str) and first.isidentifier() else "ConnectionError"
        raise InvalidArgumentError(
            f"{argument} must be an exception class or a tuple of them; got {given}.",
            hint=f"Pass the class itself, e.g. {argument}={example} or "
            f"{argument}=(ConnectionError, TimeoutError).",
            context={argument: value},
        )
    if not items and not allow_empty:
        raise InvalidArgumentError(
            f"{argument} is empty: no exception would ever match it.",
            hint=f"Name at least one exception class, e.g. {argument}=ConnectionError.",
            context={argument: value},
        )
    return tuple(items)  # type: ignore[arg-type]
