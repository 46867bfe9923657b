"""The long-running peak-trade service: wiring only.

A :class:`Node` turns :class:`~peak_trade.config.Settings` into running
components, as an async lifecycle: ``await node.start()`` starts every
component in order, ``await node.stop()`` stops them in reverse (or
``async with node:``). If one fails to start, the ones already started are
stopped, newest first, and the error propagates: nothing is left half-running.

A component is anything with a ``name`` and the small :class:`Component`
protocol: ``async start()``, ``async stop()``, ``health()`` (cheap, no I/O: what
it knows now) and ``describe()`` (one line for ``peaktrade run``). The node
keeps each component's :class:`ComponentState`. Today's components are logging
(from ``[monitoring]``) and the state store (from ``[store]``); later steps add
the web server, the scheduler, the fake exchange and the OHLCV syncer with
:meth:`Node.add`. :meth:`Node.components` also lists what the configuration
names but no component runs yet (``NOT_YET``), so ``peaktrade run`` never
claims a port nobody listens on.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Protocol, runtime_checkable

from peak_trade.clock import Clock, system_clock
from peak_trade.config import MonitoringSettings, Settings, StoreSettings, inert_reason
from peak_trade.errors import InvalidArgumentError
from peak_trade.logging import LogFormat, configure_logging, get_logger
from peak_trade.store import Store, store_from_url

__all__ = [
    "Component",
    "ComponentHealth",
    "ComponentInfo",
    "ComponentState",
    "LoggingComponent",
    "Node",
    "StoreComponent",
]

_log = get_logger("peak_trade.node")


class ComponentState(StrEnum):
    """Where a component of the service is in its lifecycle."""

    STOPPED = "stopped"  # built, not running (before start, after stop)
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"  # its start or stop raised
    NOT_YET = "not yet"  # named by the configuration; a later version runs it


@dataclass(frozen=True)
class ComponentHealth:
    """What a component knows about itself now, without I/O."""

    healthy: bool
    detail: str


@runtime_checkable
class Component(Protocol):
    """One part of the service, started and stopped by a :class:`Node`."""

    name: str

    async def start(self) -> None:
        """Start; raise a PeakTradeError if it cannot (the node stops what started)."""
        ...

    async def stop(self) -> None:
        """Stop and release what ``start`` acquired."""
        ...

    def health(self) -> ComponentHealth:
        """Cheap, no I/O: checks that need I/O belong to the health checks."""
        ...

    def describe(self) -> str:
        """One line for ``peaktrade run``: what it is, where it runs."""
        ...


@dataclass(frozen=True)
class ComponentInfo:
    """One line of :meth:`Node.components`: a component's name, state and detail."""

    name: str
    state: ComponentState
    detail: str


class LoggingComponent:
    """Logging as ``[monitoring]`` says (level, console or JSON, to stderr)."""

    name = "logging"

    def __init__(self, settings: MonitoringSettings) -> None:
        self._settings = settings

    def _format(self) -> LogFormat:
        mon = self._settings
        return mon.log_format if mon.structured_logging else "console"

    async def start(self) -> None:
        configure_logging(self._settings.log_level, self._format())

    async def stop(self) -> None:
        return None  # the configuration stays: what the node logs on its way out needs it

    def health(self) -> ComponentHealth:
        return ComponentHealth(True, "configured")

    def describe(self) -> str:
        fmt = self._format()
        shown = "console on a terminal, else JSON" if fmt == "auto" else fmt
        return f"level {self._settings.log_level}, {shown}, to stderr"


class StoreComponent:
    """The state store of ``[store]``: opened and pinged at start, closed at stop.

    Opening, pinging and closing run in a worker thread (``asyncio.to_thread``):
    a store that is slow to answer never stalls the node's event loop.
    """

    name = "store"

    def __init__(self, settings: StoreSettings, *, clock: Clock = system_clock) -> None:
        self._settings = settings
        self._clock = clock
        self.store: Store | None = None

    def _open(self) -> Store:
        cfg = self._settings
        store = store_from_url(cfg.url, clock=self._clock, **cfg.store_options())
        try:
            store.ping()
        except BaseException:
            store.close()
            raise
        return store

    async def start(self) -> None:
        if self.store is None:
            self.store = await asyncio.to_thread(self._open)

    async def stop(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            await asyncio.to_thread(store.close)

    def health(self) -> ComponentHealth:
        if self.store is None:
            return ComponentHealth(False, "not open")
        return ComponentHealth(True, f"open: {self.store.url}")

    def describe(self) -> str:
        # the URL with any password masked, opened or not
        return self.store.url if self.store is not None else str(self._settings.url)


# the sections of the config whose component a later step builds, as the user meets them
_PLANNED = (
    ("exchange", "exchange"),
    ("health checks", "health_checks"),
    ("backups", "backup"),
    ("job safety", "retry"),
)


class Node:
    """One peak-trade process: ``await start()`` then ``await stop()`` (both idempotent).

    Or ``async with Node(settings) as node:``.
    """

    def __init__(self, settings: Settings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self._store = StoreComponent(settings.store, clock=clock)
        self._components: list[Component] = [LoggingComponent(settings.monitoring), self._store]
        self._states: dict[str, ComponentState] = {
            c.name: ComponentState.STOPPED for c in self._components
        }
        self._stack: AsyncExitStack | None = None

    @property
    def store(self) -> Store | None:
        """The open state store (None unless the node runs)."""
        return self._store.store

    def add(self, component: Component) -> None:
        """Add ``component``; it starts after the ones added before it. Only before start."""
        if self._stack is not None:
            raise InvalidArgumentError(
                f"Add components before the node starts (got {component.name!r}).",
                hint="Build the node, add every component, then start it.",
                context={"component": component.name},
            )
        if component.name in self._states:
            raise InvalidArgumentError(
                f"The node already has a component named {component.name!r}.",
                hint="Give each component a name of its own.",
                context={"component": component.name},
            )
        self._components.append(component)
        self._states[component.name] = ComponentState.STOPPED

    async def start(self) -> None:
        """Start every component in order; on a failure, stop the started ones and raise.

        Logs ``node started`` (the store's URL with any password masked), and
        one warning per configured key that nothing uses yet.
        """
        if self._stack is not None:
            return
        stack = AsyncExitStack()
        try:
            for component in self._components:
                await self._start_one(component)
                stack.push_async_callback(self._stop_one, component)
        except BaseException:
            await stack.aclose()  # newest first; the error that stopped the start wins
            raise
        self._stack = stack
        for inert in self.settings.inert_settings():
            _log.warning(
                "config key accepted but not used yet",
                key=inert.key,
                value=inert.value,
                planned=inert.planned,
            )
        _log.info(
            "node started",
            store=self._store.describe(),
            config=str(self.settings.source or "<defaults>"),
        )

    async def _start_one(self, component: Component) -> None:
        self._states[component.name] = ComponentState.STARTING
        try:
            await component.start()
        except BaseException:
            self._states[component.name] = ComponentState.FAILED
            raise
        self._states[component.name] = ComponentState.RUNNING

    async def _stop_one(self, component: Component) -> None:
        self._states[component.name] = ComponentState.STOPPING
        try:
            await component.stop()
        except BaseException:
            self._states[component.name] = ComponentState.FAILED
            _log.exception("component failed to stop", component=component.name)
            raise  # the exit stack goes on stopping the others, then raises it
        self._states[component.name] = ComponentState.STOPPED

    async def stop(self) -> None:
        """Stop every running component, newest first."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            await stack.aclose()
        finally:
            _log.info("node stopped")

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def health(self) -> dict[str, ComponentHealth]:
        """Each component's health; one that does not run is unhealthy, saying its state."""
        found: dict[str, ComponentHealth] = {}
        for component in self._components:
            state = self._states[component.name]
            found[component.name] = (
                component.health()
                if state is ComponentState.RUNNING
                else ComponentHealth(False, state.value)
            )
        return found

    def components(self) -> tuple[ComponentInfo, ...]:
        """Each component's state, then what the configuration names but nothing runs yet."""
        found = [
            ComponentInfo(c.name, self._states[c.name], c.describe()) for c in self._components
        ]
        web = self.settings.web
        found.append(
            ComponentInfo(
                "web",
                ComponentState.NOT_YET,
                f"nothing listens on {web.host}:{web.port} yet ({inert_reason('web')})",
            )
        )
        for name, section in _PLANNED:
            found.append(ComponentInfo(name, ComponentState.NOT_YET, f"{inert_reason(section)}"))
        return tuple(found)

    def describe(self) -> list[str]:
        """Human lines: where the configuration came from, and each component's state."""
        source = self.settings.source or "<built-in defaults>"
        lines = [f"configuration: {source} (peaktrade config show prints all of it)"]
        if self.settings.env_overrides:
            lines.append(f"overridden by environment: {', '.join(self.settings.env_overrides)}")
        components = self.components()
        width = max(len(c.name) for c in components)
        for c in components:
            lines.append(f"{c.state.value:<8} {c.name:<{width}}  {c.detail}")
        return lines
