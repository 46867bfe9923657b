"""The long-running peak-trade service: wiring only.

A :class:`Node` turns :class:`~peak_trade.config.Settings` into running
components. For now it configures logging and opens the state store; later
steps add the fake exchange, the OHLCV sync, health checks, metrics, alerts,
backups and the web server, each started here and stopped in reverse order.
"""

from __future__ import annotations

import tomli_w

from peak_trade.clock import Clock, system_clock
from peak_trade.config import Settings
from peak_trade.logging import configure_logging, get_logger
from peak_trade.store import Store, store_from_url

__all__ = ["Node"]

_log = get_logger("peak_trade.node")


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

    def describe(self) -> list[str]:
        """Human lines: the effective configuration and the store in use."""
        source = self.settings.source or "<built-in defaults>"
        lines = [f"# effective configuration, from: {source}"]
        if self.settings.env_overrides:
            lines.append(f"# overridden by environment: {', '.join(self.settings.env_overrides)}")
        lines.extend(tomli_w.dumps(self.settings.to_toml_dict()).rstrip().splitlines())
        lines.append(f"store: {self.store.url if self.store is not None else '<not open>'}")
        return lines

    def stop(self) -> None:
        """Close everything that ``start`` opened."""
        if self.store is not None:
            self.store.close()
            self.store = None
            _log.info("node stopped")
