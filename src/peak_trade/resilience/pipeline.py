"""``with_resilience``: the seed's one-line decorator, composed from the patterns.

::

    @with_resilience("data", "fetch", use_rate_limiter=True)
    def fetch_market_data(symbol): ...

Layers, outermost first (each only if enabled)::

    safe default  ->  circuit breaker  ->  retry  ->  rate limiter  ->  timeout  ->  your function

* The **breaker** is outermost (seed 001's rule): a call that exhausts its
  retries is one breaker failure, and an open breaker rejects before any
  retry, permit or thread is spent.
* **Retry** sits inside the breaker and is off by default: retrying a call
  with side effects (an order) must be an explicit choice.
* The **rate limiter** is inside retry, so every attempt takes a permit; a
  refused permit raises ``RateLimitExceeded`` whose ``retry_after`` the retry
  layer honours. Limiter rejections never count as breaker failures.
* The **timeout** is innermost. On the sync path it is the cooperative
  deadline (``mode="deadline"``, see :mod:`peak_trade.resilience.timeout`);
  ``hard_timeout=True`` runs sync calls in a worker thread instead. Async
  calls are always cancelled at the deadline.

* The **safe default** (``fallback_value=`` or ``fallback=``) is outermost,
  and only used when the module's ``fail_safe_defaults`` is true: then any
  ``Exception`` of the layers below -- the function's own failure, an open
  breaker, a refused permit, exhausted retries, a timeout, a store outage --
  returns the declared answer instead (a ``FallbackUsed`` event says so; a
  risk check that cannot run says "reject", not "crash"). A module
  with ``fail_safe_defaults = true`` must declare one for every operation:
  decorating without is an ``InvalidArgumentError``. With the setting off the
  declared default is ignored and errors propagate.

Sizes come from ``[resilience]`` and ``[resilience.<module>]`` through the
registry (the default registry unless ``registry=`` is given); the
``circuit_breaker_enabled``, ``rate_limit_enabled`` and ``fail_safe_defaults``
switches are honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from peak_trade.errors import InvalidArgumentError
from peak_trade.resilience._wrap import is_async, refuse_generators, wrap
from peak_trade.resilience.fallback import Fallback
from peak_trade.resilience.ratelimit import RateLimiter
from peak_trade.resilience.registry import ResilienceRegistry, default_registry
from peak_trade.resilience.retry import retry_with_backoff
from peak_trade.resilience.timeout import Timeout, TimeoutMode

__all__ = ["with_resilience"]

F = TypeVar("F", bound=Callable[..., Any])

_NO_DEFAULT: Any = object()


def _limited(limiter: RateLimiter) -> Callable[[F], F]:
    """One permit per call: ``acquire_or_raise`` for sync functions, awaited
    ``aacquire_or_raise`` for async ones (a shared bucket's store is then never
    called on the event loop). A limiter on an ``AsyncStore`` cannot serve a sync
    function: refused here, at decoration, rather than at its first call."""

    def sync_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        limiter.acquire_or_raise()
        return func(*args, **kwargs)

    in_process = limiter.store is None  # buckets in memory: no I/O, nothing to await

    async def async_call(
        func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if in_process:
            limiter.acquire_or_raise()
        else:
            await limiter.aacquire_or_raise()
        return await func(*args, **kwargs)

    def decorate(func: F) -> F:
        if limiter.async_only and not is_async(func):
            raise InvalidArgumentError(
                f"with_resilience cannot rate-limit the sync function "
                f"{getattr(func, '__qualname__', func)!r}: limiter {limiter.name!r} shares its "
                "buckets through an AsyncStore, which only async code can drive.",
                hint="Make the function async def, or give this registry a sync Store "
                "(store_from_url(url)); limiters of the same name on the same backend share "
                "one bucket either way.",
                context={"limiter": limiter.name, "store": repr(limiter.store)},
            )
        return wrap(func, sync_call, async_call, pattern="with_resilience")

    return decorate


def with_resilience(
    module: str,
    operation: str,
    *,
    use_circuit_breaker: bool = True,
    use_rate_limiter: bool = False,
    use_retry: bool = False,
    timeout: float | None = None,
    hard_timeout: bool = False,
    registry: ResilienceRegistry | None = None,
    fallback_value: Any = _NO_DEFAULT,
    fallback: Callable[..., Any] | None = None,
) -> Callable[[F], F]:
    """Protect a sync or async function with the configured resilience layers.

    Args:
        module: configuration module (``[resilience.<module>]``), e.g. ``"data"``.
        operation: names the breaker and limiter ``"<module>.<operation>"``.
        use_circuit_breaker: wrap in the module's breaker (if enabled in config).
        use_rate_limiter: take a permit from the module's limiter per attempt
            (if enabled in config).
        use_retry: retry failures with the module's ``retry_*`` settings.
        timeout: seconds per attempt (default: the module's ``timeout_seconds``).
        hard_timeout: sync calls run in a worker thread and are abandoned at the timeout.
        registry: where breakers and limiters live (default: the default registry).
        fallback_value: the safe answer when the call fails or is rejected, used
            only if the module's ``fail_safe_defaults`` is true (``None`` is a value).
        fallback: or a function computing it, ``fallback(exc, *args, **kwargs)``
            (``async def`` for async functions).
    """
    reg = registry if registry is not None else default_registry()
    cfg = reg.settings.for_module(module)
    name = f"{module}.{operation}"
    safe: Fallback | None = None
    if fallback_value is not _NO_DEFAULT or fallback is not None:
        value = {} if fallback_value is _NO_DEFAULT else {"value": fallback_value}
        safe = Fallback(func=fallback, name=name, clock=reg.clock, bus=reg.bus, **value)
    if cfg.fail_safe_defaults and safe is None:
        raise InvalidArgumentError(
            f"[resilience.{module}] fail_safe_defaults is true, but {name!r} declares no "
            "safe default to answer with when it fails.",
            hint=f"Pass fallback_value=... (or fallback=lambda exc, *args, **kw: ...) to "
            f"with_resilience({module!r}, {operation!r}), or set fail_safe_defaults = false "
            f"under [resilience.{module}] if this module has no safe answer.",
            context={"module": module, "operation": operation},
        )

    def decorate(func: F) -> F:
        refuse_generators(func, "with_resilience")
        wrapped: Any = func
        seconds = timeout if timeout is not None else cfg.timeout_seconds
        if seconds is not None:
            mode = TimeoutMode.THREAD if hard_timeout else TimeoutMode.DEADLINE
            wrapped = Timeout(seconds, name=name, mode=mode, clock=reg.clock, bus=reg.bus)(wrapped)
        if use_rate_limiter and cfg.rate_limit_enabled:
            wrapped = _limited(reg.module_rate_limiter(module, operation))(wrapped)
        if use_retry and cfg.retry_max_attempts > 1:
            wrapped = retry_with_backoff(
                max_attempts=cfg.retry_max_attempts,
                base_delay=cfg.retry_base_delay,
                max_delay=cfg.retry_max_delay,
                clock=reg.clock,
                bus=reg.bus,
                name=name,
            )(wrapped)
        if use_circuit_breaker and cfg.circuit_breaker_enabled:
            wrapped = reg.module_circuit_breaker(module, operation).call(wrapped)
        if safe is not None and cfg.fail_safe_defaults:
            wrapped = safe(wrapped)
        return wrapped  # type: ignore[no-any-return]

    return decorate
