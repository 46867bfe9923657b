"""Where every resilience pattern lives: a registry object, plus the seed's default instance.

A :class:`ResilienceRegistry` holds patterns of every kind, keyed by kind and
name: ``registry.get(PatternKind.BREAKER, "exchange.orders")``,
``registry.patterns(PatternKind.BULKHEAD)``, ``registry.patterns()``. It
creates breakers, rate limiters and retries from ``[resilience]`` settings
(globals, ``[resilience.<module>]`` overrides and ``[resilience.rate_limits]``)
and hands the same instance to everyone who asks for the same name; any other
pattern joins with :meth:`ResilienceRegistry.add`. Applications and tests pass
a registry explicitly; the seed's module-level functions
(``create_module_circuit_breaker``, ``create_module_rate_limiter``,
``get_all_circuit_breakers``, ``with_resilience``) use the **default
registry**, created on first use from :func:`peak_trade.config.load_settings`
and replaceable with :func:`set_default_registry`.

What the default registry lists (``patterns()``, ``get()``, and so
``get_all_circuit_breakers()`` and ``get_all_rate_limiters()``):

* every pattern it made or was given (held by it for the process's life);
* every pattern made by hand **with a name** -- ``CircuitBreaker(name=...)``,
  ``@circuit_breaker(name=...)``, ``RateLimiter(name=...)``,
  ``Retry(name=...)``, ``@retry_with_backoff(name=...)``,
  ``Bulkhead(name=...)``, ``Timeout(name=...)``, ``Fallback(name=...)`` --
  while something still references it (held weakly; see
  :mod:`peak_trade.resilience._catalog`). On a clash of kind and name the
  registry's own pattern is listed; between two made by hand, the newest (a
  warning is logged when the second is made).

Not listed: patterns without a name, patterns made with ``register=False``,
and patterns of any *other* registry (they live in that registry, which lists
only its own while it is not the default). ``set_default_registry(registry)``
keeps the named ones listed (an application installing its registry at
start-up loses none); ``set_default_registry(None)`` also forgets them, the
reset for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from peak_trade.clock import Clock, system_clock
from peak_trade.config import ResilienceSettings, load_settings
from peak_trade.events import EventBus
from peak_trade.resilience._catalog import NAMED, key_of
from peak_trade.resilience._contract import Pattern, PatternKind
from peak_trade.resilience.circuitbreaker import CircuitBreaker
from peak_trade.resilience.ratelimit import RateLimiter
from peak_trade.resilience.retry import Retry

if TYPE_CHECKING:
    from peak_trade.resilience.bulkhead import Bulkhead
    from peak_trade.resilience.fallback import Fallback
    from peak_trade.resilience.pipeline import Layer
    from peak_trade.resilience.timeout import Timeout
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

P = TypeVar("P", bound=Pattern)


class ResilienceRegistry:
    """The resilience patterns of one application, by kind and name, configured from settings.

    Args:
        settings: the ``[resilience]`` section (default: built-in defaults).
        clock: given to every pattern created here.
        bus: event bus given to every pattern created here.
        store: if given, rate limiters share their buckets through it and
            breakers their state (one breaker per name for the whole fleet;
            see ``CircuitBreaker(store=...)``). An ``AsyncStore`` serves
            ``async def`` callers (sync code on it is refused with a way out).
        layers: the layers ``with_resilience`` builds with this registry,
            outermost first (default: :data:`peak_trade.resilience.pipeline.LAYERS`;
            ``insert_layer(MY_LAYER, after="retry")`` adds one).
    """

    def __init__(
        self,
        settings: ResilienceSettings | None = None,
        *,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        store: Store | AsyncStore | None = None,
        layers: Sequence[Layer] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ResilienceSettings()
        self.clock = clock
        self.bus = bus
        self.store = store
        self.layers: tuple[Layer, ...] | None = tuple(layers) if layers is not None else None
        self._lock = threading.Lock()
        self._own: dict[str, dict[str, Pattern]] = {}

    # ------------------------------------------------------------------ any kind

    def add(self, pattern: P) -> P:
        """Hold ``pattern`` and list it under its kind and name; return it.

        It replaces an earlier pattern of the same kind and name (the newest is
        listed). Make it with ``register=False``: it lives here.
        """
        kind, name = key_of(pattern)
        with self._lock:
            self._own.setdefault(kind, {})[name] = pattern
        return pattern

    def _made(self, kind: str, name: str, make: Any) -> Any:
        """The pattern ``kind``/``name`` of this registry, made by ``make()`` on first request."""
        with self._lock:
            mine = self._own.setdefault(kind, {})
            pattern = mine.get(name)
            if pattern is None:
                pattern = mine[name] = make()
            return pattern

    def _includes_named(self) -> bool:
        return _default is self

    @overload
    def get(self, kind: Literal[PatternKind.BREAKER], name: str) -> CircuitBreaker | None: ...
    @overload
    def get(self, kind: Literal[PatternKind.RETRY], name: str) -> Retry | None: ...
    @overload
    def get(self, kind: Literal[PatternKind.RATE_LIMITER], name: str) -> RateLimiter | None: ...
    @overload
    def get(self, kind: Literal[PatternKind.BULKHEAD], name: str) -> Bulkhead | None: ...
    @overload
    def get(self, kind: Literal[PatternKind.TIMEOUT], name: str) -> Timeout | None: ...
    @overload
    def get(self, kind: Literal[PatternKind.FALLBACK], name: str) -> Fallback | None: ...
    @overload
    def get(self, kind: str, name: str) -> Pattern | None: ...

    def get(self, kind: str, name: str) -> Pattern | None:
        """The pattern of ``kind`` called ``name``, or None.

        The default registry also finds named patterns made by hand (its own win a clash).
        """
        with self._lock:
            found = self._own.get(kind, {}).get(name)
        if found is None and self._includes_named():
            found = NAMED.get(kind, name)
        return found

    def patterns(self, kind: str | None = None) -> list[Pattern]:
        """Every pattern (of ``kind``, if given), sorted by kind and name.

        The default registry also lists the live named patterns made by hand.
        """
        found: dict[tuple[str, str], Pattern] = (
            dict(NAMED.live(kind)) if self._includes_named() else {}
        )
        with self._lock:
            for k, mine in self._own.items():
                if kind is None or k == kind:
                    found.update(((k, name), p) for name, p in mine.items())
        return [found[key] for key in sorted(found)]

    def _own_of(self, kind: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._own.get(kind, {}))

    # ------------------------------------------------------------------ breakers

    def circuit_breaker(self, name: str, **options: Any) -> CircuitBreaker:
        """The breaker called ``name``, created on first request.

        ``options`` (``failure_threshold``, ``recovery_timeout``, ``sliding_window``,
        ...) apply only when it is created; defaults come from ``[resilience]``.
        """

        def make() -> CircuitBreaker:
            options.setdefault("failure_threshold", self.settings.circuit_breaker_threshold)
            options.setdefault("recovery_timeout", self.settings.circuit_breaker_timeout)
            options.setdefault("store", self.store)
            options["register"] = False  # it lives here, listed through this registry
            return CircuitBreaker(name=name, clock=self.clock, bus=self.bus, **options)

        return cast(CircuitBreaker, self._made(PatternKind.BREAKER, name, make))

    def module_circuit_breaker(self, module: str, operation: str = "default") -> CircuitBreaker:
        """Breaker ``"<module>.<operation>"`` configured from ``[resilience.<module>]``."""
        cfg = self.settings.for_module(module)
        return self.circuit_breaker(
            f"{module}.{operation}",
            failure_threshold=cfg.circuit_breaker_threshold,
            recovery_timeout=cfg.circuit_breaker_timeout,
        )

    def circuit_breakers(self) -> dict[str, CircuitBreaker]:
        """Every breaker this registry holds, by name (a copy)."""
        return self._own_of(PatternKind.BREAKER)

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

        def make() -> RateLimiter:
            spec = self.settings.rate_limits.get(name)
            requests, window, size = max_requests, window_seconds, burst
            if requests is None:
                requests = spec.requests if spec else self.settings.rate_limit_requests
            if window is None:
                window = spec.window if spec else self.settings.rate_limit_window
            if size is None and spec is not None:
                size = spec.burst
            return RateLimiter(
                requests,
                window,
                burst=size,
                name=name,
                store=self.store,
                clock=self.clock,
                bus=self.bus,
                register=False,  # it lives here, listed through this registry
            )

        return cast(RateLimiter, self._made(PatternKind.RATE_LIMITER, name, make))

    def module_rate_limiter(self, module: str, operation: str = "default") -> RateLimiter:
        """Limiter ``"<module>.<operation>"`` sized from ``[resilience.<module>]``."""
        cfg = self.settings.for_module(module)
        return self.rate_limiter(
            f"{module}.{operation}", cfg.rate_limit_requests, cfg.rate_limit_window
        )

    def rate_limiters(self) -> dict[str, RateLimiter]:
        """Every limiter this registry holds, by name (a copy)."""
        return self._own_of(PatternKind.RATE_LIMITER)

    # ------------------------------------------------------------------ retries

    def retry(self, name: str, **options: Any) -> Retry:
        """The retry called ``name``, created on first request.

        ``options`` are :class:`~peak_trade.resilience.Retry`'s (``max_attempts``,
        ``base_delay``, ``max_delay``, ``deadline``...) and apply only when it is
        created; the sizes default to the ``retry_*`` globals of ``[resilience]``.
        """

        def make() -> Retry:
            options.setdefault("max_attempts", self.settings.retry_max_attempts)
            options.setdefault("base_delay", self.settings.retry_base_delay)
            options.setdefault("max_delay", self.settings.retry_max_delay)
            options["register"] = False  # it lives here, listed through this registry
            return Retry(name=name, clock=self.clock, bus=self.bus, **options)

        return cast(Retry, self._made(PatternKind.RETRY, name, make))


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
    the named patterns made by hand (they keep working, unlisted); installing a
    registry keeps listing them.
    """
    global _default
    with _default_lock:
        _default = registry
        if registry is None:
            NAMED.clear()


def create_module_circuit_breaker(module: str, operation: str = "default") -> CircuitBreaker:
    """Seed 002: the breaker for ``module``/``operation`` from the default registry."""
    return default_registry().module_circuit_breaker(module, operation)


def create_module_rate_limiter(module: str, operation: str = "default") -> RateLimiter:
    """Seed 002: the rate limiter for ``module``/``operation`` from the default registry."""
    return default_registry().module_rate_limiter(module, operation)


def get_all_circuit_breakers() -> dict[str, CircuitBreaker]:
    """Seed 002: every breaker of the default registry and every live named one, by name."""
    return {
        p.name: cast(CircuitBreaker, p) for p in default_registry().patterns(PatternKind.BREAKER)
    }


def get_all_rate_limiters() -> dict[str, RateLimiter]:
    """Every rate limiter of the default registry and every live named one, by name."""
    found = default_registry().patterns(PatternKind.RATE_LIMITER)
    return {p.name: cast(RateLimiter, p) for p in found}
