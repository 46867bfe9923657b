"""Store doubles for the resilience tests: real stores that record how they are called.

They wrap a real store (no mock answers anything) and note each primitive
called, so a test can prove where a pattern's store calls ran: that the event
loop's thread never ran a blocking one, or that every async one was awaited.
"""

from __future__ import annotations

import threading
from typing import Any

from peak_trade.store import Store
from peak_trade.store.aio import AsyncStore

__all__ = ["AwaitRecordingStore", "ThreadRecordingStore"]


class ThreadRecordingStore:
    """A real sync store that records the name and thread of every primitive it runs."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.namespace = inner.namespace
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.get_ident()))
            return method(*args, **kwargs)

        return call


class AwaitRecordingStore:
    """A real ``AsyncStore`` that records every primitive once its result was awaited."""

    def __init__(self, inner: AsyncStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.namespace = inner.namespace
        self.awaited: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            self.awaited.append(name)
            return result

        return call
