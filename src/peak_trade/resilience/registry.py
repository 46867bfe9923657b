"""Where breakers and limiters live: a registry object, plus the seed's default instance.

A :class:`ResilienceRegistry` creates breakers and rate limiters from
``[resilience]`` settings (globals, ``[resilience.<module>]`` overrides and
``[resilience.rate_limits]``) and hands the same instance to everyone who asks
for the same name. Applications and tests pass a registry explicitly; the
seed's module-level functions (``create_module_circuit_breaker``,
``create_module_rate_limiter``, ``get_all_circuit_breakers``,
``with_resilience``) use the **default registry**, created on first use from
:func:`peak_trade.config.load_settings` and replaceable with
:func:`set_default_registry`.

What ``get_all_circuit_breakers()`` (and ``get_all_rate_limiters()``) list:

* every breaker the default registry made (held by it for the process's life);
* every breaker made by hand **with a name** -- ``CircuitBreaker(name=...)``,
  ``@circuit_breaker(name=...)`` -- while something still references it (the
  catalog holds it weakly; see :mod:`peak_trade.resilience._catalog`). On a
  name clash the default registry's own breaker is listed; between two breakers
  made by hand, the newest (a warning is logged when the second is made).

Not listed: breakers without a name, breakers made with ``register=False``,
and breakers made by any *other* registry (they live in that registry:
``registry.circuit_breakers()``). ``set_default_registry(registry)`` keeps the
named ones listed (an application installing its registry at start-up loses
none); ``set_default_registry(None)`` also forgets them, the reset for tests.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from peak_trade.clock import Clock, system_clock
from peak_trade.config import ResilienceSettings, load_settings
from peak_trade.events import EventBus
from peak_trade.resilience import circuitbreaker, ratelimit
from peak_trade.resilience.circuitbreaker import CircuitBreaker
from peak_trade.resilience.ratelimit import RateLimiter

if TYPE_CHECKING:
    from peak_trade.store import AsyncStore, Store

__all__ = [
    "ResilienceRegistry",
    "create_module_circuit_breaker",
    "create_module_rate_limiter",
    "default_registry",
    "get_all_circuit_breakers",
    "get_all_rate_limiters",
    "set_default_registry",
]


class ResilienceRegistry:
    """Breakers and rate limiters of one application, configured from settings.

    Args:
        settings: the ``[resilience]`` section (default: built-in defaults).
        clock: given to every breaker and limiter created here.
        bus: event bus given to every breaker and limiter created here.
        store: if given, rate limiters share their buckets through it and
            breakers their state (one breaker per name for the whole fleet;
            see ``CircuitBreaker(store=...)``). An ``AsyncStore`` serves
            ``async def`` callers (sync code on it is refused with a way out).
    """

    def __init__(
        self,
        settings: ResilienceSettings | None = None,
        *,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        store: Store | AsyncStore | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ResilienceSettings()
        self.clock = clock
        self.bus = bus
        self.store = store
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, RateLimiter] = {}

    # ------------------------------------------------------------------ breakers

    def circuit_breaker(self, name: str, **options: Any) -> CircuitBreaker:
        """The breaker called ``name``, created on first request.

        ``options`` (``failure_threshold``, ``recovery_timeout``, ``sliding_window``,
        ...) apply only when it is created; defaults come from ``[resilience]``.
        """
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                options.setdefault("failure_threshold", self.settings.circuit_breaker_threshold)
                options.setdefault("recovery_timeout", self.settings.circuit_breaker_timeout)
                options.setdefault("store", self.store)
                options["register"] = False  # it lives here, listed through this registry
                breaker = CircuitBreaker(name=name, clock=self.clock, bus=self.bus, **options)
                self._breakers[name] = breaker
            return breaker

    def module_circuit_breaker(self, module: str, operation: str = "default") -> CircuitBreaker:
        """Breaker ``"<module>.<operation>"`` configured from ``[resilience.<module>]``."""
        cfg = self.settings.for_module(module)
        return self.circuit_breaker(
            f"{module}.{operation}",
            failure_threshold=cfg.circuit_breaker_threshold,
            recovery_timeout=cfg.circuit_breaker_timeout,
        )

    def circuit_breakers(self) -> dict[str, CircuitBreaker]:
        """Every breaker created so far, by name (a copy)."""
        with self._lock:
            return dict(self._breakers)

    def reset_all(self) -> None:
        """Close every breaker and clear its statistics."""
        for breaker in self.circuit_breakers().values():
            breaker.reset()

    # ------------------------------------------------------------------ limiters

    def rate_limiter(
        self,
        name: str,
        max_requests: int | None = None,
        window_seconds: float | None = None,
        *,
        burst: int | None = None,
    ) -> RateLimiter:
        """The limiter called ``name``, created on first request.

        Sizes, when not given: ``[resilience.rate_limits.<name>]`` if present,
        else the ``rate_limit_requests`` / ``rate_limit_window`` globals.
        """
        with self._lock:
            limiter = self._limiters.get(name)
            if limiter is None:
                spec = self.settings.rate_limits.get(name)
                if max_requests is None:
                    max_requests = spec.requests if spec else self.settings.rate_limit_requests
                if window_seconds is None:
                    window_seconds = spec.window if spec else self.settings.rate_limit_window
                if burst is None and spec is not None:
                    burst = spec.burst
                limiter = RateLimiter(
                    max_requests,
                    window_seconds,
                    burst=burst,
                    name=name,
                    store=self.store,
                    clock=self.clock,
                    bus=self.bus,
                    register=False,  # it lives here, listed through this registry
                )
                self._limiters[name] = limiter
            return limiter

    def module_rate_limiter(self, module: str, operation: str = "default") -> RateLimiter:
        """Limiter ``"<module>.<operation>"`` sized from ``[resilience.<module>]``."""
        cfg = self.settings.for_module(module)
        return self.rate_limiter(
            f"{module}.{operation}", cfg.rate_limit_requests, cfg.rate_limit_window
        )

    def rate_limiters(self) -> dict[str, RateLimiter]:
        """Every limiter created so far, by name (a copy)."""
        with self._lock:
            return dict(self._limiters)


_default: ResilienceRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> ResilienceRegistry:
    """The process-wide registry behind the seed's module-level functions.

    Created on first use from ``load_settings().resilience`` (config file and
    ``PEAK_TRADE_*`` variables); a bad configuration raises ``ConfigError`` here.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = ResilienceRegistry(load_settings().resilience)
        return _default


def set_default_registry(registry: ResilienceRegistry | None) -> None:
    """Install ``registry`` as the default; ``None`` resets everything.

    ``None`` rebuilds the default registry from config on next use and forgets
    the named breakers and limiters made by hand (they keep working, unlisted);
    installing a registry keeps listing them.
    """
    global _default
    with _default_lock:
        _default = registry
        if registry is None:
            circuitbreaker.NAMED.clear()
            ratelimit.NAMED.clear()


def create_module_circuit_breaker(module: str, operation: str = "default") -> CircuitBreaker:
    """Seed 002: the breaker for ``module``/``operation`` from the default registry."""
    return default_registry().module_circuit_breaker(module, operation)


def create_module_rate_limiter(module: str, operation: str = "default") -> RateLimiter:
    """Seed 002: the rate limiter for ``module``/``operation`` from the default registry."""
    return default_registry().module_rate_limiter(module, operation)


def get_all_circuit_breakers() -> dict[str, CircuitBreaker]:
    """Seed 002: every breaker of the default registry and every live named one, by name."""
    return {**circuitbreaker.NAMED.live(), **default_registry().circuit_breakers()}


def get_all_rate_limiters() -> dict[str, RateLimiter]:
    """Every rate limiter of the default registry and every live named one, by name."""
    return {**ratelimit.NAMED.live(), **default_registry().rate_limiters()}
