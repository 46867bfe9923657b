"""The long-running peak-trade service: wiring only.

A :class:`Node` turns :class:`~peak_trade.config.Settings` into running
components. Today it configures logging and opens the state store, and
nothing more; later steps add the fake exchange, the OHLCV sync, health
checks, metrics, alerts, backups and the web server, each started here and
stopped in reverse order. :meth:`Node.components` says which is which, so
``peaktrade run`` never claims a port nobody listens on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from peak_trade.clock import Clock, system_clock
from peak_trade.config import Settings, inert_reason
from peak_trade.logging import configure_logging, get_logger
from peak_trade.store import Store, store_from_url

__all__ = ["Component", "ComponentState", "Node"]

_log = get_logger("peak_trade.node")


class ComponentState(StrEnum):
    """Whether a component of the service runs in this version."""

    RUNNING = "running"
    NOT_YET = "not yet"


@dataclass(frozen=True)
class Component:
    """One part of the service, as ``peaktrade run`` reports it."""

    name: str
    state: ComponentState
    detail: str


# the sections of the config whose component a later step builds, as the user meets them
_PLANNED = (
    ("exchange", "exchange"),
    ("health checks", "health_checks"),
    ("backups", "backup"),
    ("job safety", "retry"),
)


class Node:
    """One peak-trade process. ``start()`` then ``stop()``; both are idempotent."""

    def __init__(self, settings: Settings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.store: Store | None = None

    def start(self) -> None:
        """Configure logging and open the store (raises a PeakTradeError on failure).

        Logs ``node started`` (the store's URL with any password masked), and
        one warning per configured key that nothing uses yet.
        """
        if self.store is not None:
            return
        mon = self.settings.monitoring
        configure_logging(mon.log_level, mon.log_format if mon.structured_logging else "console")
        cfg = self.settings.store
        store = store_from_url(cfg.url, clock=self.clock, **cfg.store_options())
        try:
            store.ping()
        except BaseException:
            store.close()
            raise
        self.store = store
        for inert in self.settings.inert_settings():
            _log.warning(
                "config key accepted but not used yet",
                key=inert.key,
                value=inert.value,
                planned=inert.planned,
            )
        _log.info("node started", store=store.url, config=str(self.settings.source or "<defaults>"))

    def components(self) -> tuple[Component, ...]:
        """What runs in this version, and what the configuration names but nothing runs yet."""
        mon = self.settings.monitoring
        fmt = mon.log_format if mon.structured_logging else "console"
        shown = "console on a terminal, else JSON" if fmt == "auto" else fmt
        store = self.store.url if self.store is not None else "<not open>"
        web = self.settings.web
        found = [
            Component("store", ComponentState.RUNNING, store),
            Component(
                "logging", ComponentState.RUNNING, f"level {mon.log_level}, {shown}, to stderr"
            ),
            Component(
                "web",
                ComponentState.NOT_YET,
                f"nothing listens on {web.host}:{web.port} yet ({inert_reason('web')})",
            ),
        ]
        for name, section in _PLANNED:
            found.append(Component(name, ComponentState.NOT_YET, f"{inert_reason(section)}"))
        return tuple(found)

    def describe(self) -> list[str]:
        """Human lines: where the configuration came from, and each component's state."""
        source = self.settings.source or "<built-in defaults>"
        lines = [f"configuration: {source} (peaktrade config show prints all of it)"]
        if self.settings.env_overrides:
            lines.append(f"overridden by environment: {', '.join(self.settings.env_overrides)}")
        width = max(len(c.name) for c in self.components())
        for c in self.components():
            lines.append(f"{c.state.value:<8} {c.name:<{width}}  {c.detail}")
        return lines

    def stop(self) -> None:
        """Close everything that ``start`` opened."""
        if self.store is not None:
            self.store.close()
            self.store = None
            _log.info("node stopped")
