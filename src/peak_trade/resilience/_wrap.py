"""Shared plumbing for decorators that serve sync and ``async def`` callables."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def is_async(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions (and callables whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - we want the bound __call__ of objects
    )


def wrap(
    func: F,
    sync_call: Callable[..., Any],
    async_call: Callable[..., Awaitable[Any]],
) -> F:
    """Return ``func`` wrapped by ``sync_call`` or ``async_call`` as fits, with its metadata.

    ``sync_call(func, args, kwargs)`` / ``await async_call(func, args, kwargs)``.
    """
    if is_async(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await async_call(func, args, kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        return sync_call(func, args, kwargs)

    return sync_wrapper  # type: ignore[return-value]
