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

The layers are a list
---------------------
:data:`LAYERS` declares the layers above, outermost first, each as a
:class:`Layer`: its name, the switch that enables it (a function of the
:class:`LayerRequest`: the call's keyword arguments and the module's resolved
config) and how it is built (from the request's registry, which holds what it
builds, so every pattern of a protected operation is found by kind and
``"<module>.<operation>"``). ``with_resilience`` only walks the list, so a new
pattern is one module plus one line: ``insert_layer(MY_LAYER, after="retry")``
gives the list a registry uses (``ResilienceRegistry(..., layers=...)``). A
layer may read keyword arguments of its own (``Layer.options``); one that no
layer reads is refused. The breaker, limiter and retry of an operation are one
per name in the registry (shared by every function decorated with it); the
timeout and the safe default are the decoration's own (their seconds and
answer are the call site's), the registry lists the newest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from peak_trade.errors import InvalidArgumentError
from peak_trade.resilience._wrap import is_async, refuse_generators, wrap
from peak_trade.resilience.fallback import Fallback
from peak_trade.resilience.ratelimit import RateLimiter
from peak_trade.resilience.registry import ResilienceRegistry, default_registry
from peak_trade.resilience.timeout import Timeout, TimeoutMode

if TYPE_CHECKING:
    from peak_trade.config import ResolvedModuleResilience

__all__ = ["LAYERS", "Layer", "LayerRequest", "insert_layer", "with_resilience"]

F = TypeVar("F", bound=Callable[..., Any])

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What a layer builds: it wraps a function (sync or async) in its pattern."""

_NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class LayerRequest:
    """One ``with_resilience`` call, as its layers see it.

    ``options`` holds every keyword argument of the call (``use_retry``,
    ``timeout``, ``fallback_value``, ... and those of added layers);
    ``config`` is the module's resolved ``[resilience]`` settings.
    """

    registry: ResilienceRegistry
    module: str
    operation: str
    config: ResolvedModuleResilience
    options: Mapping[str, Any]

    @property
    def name(self) -> str:
        """``"<module>.<operation>"``: the name of every pattern the layers build."""
        return f"{self.module}.{self.operation}"


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of ``with_resilience``.

    Args:
        name: how the layer list names it (``insert_layer(..., after=name)``).
        enabled: whether this call gets the layer (its switch).
        build: the decorator that adds it, made from the request (usually a
            pattern the registry holds: ``request.registry.add(...)``); called
            once per decorated function, innermost layer first.
        options: keyword arguments of ``with_resilience`` this layer reads,
            beyond the built-in ones (so they are not refused as unknown).
        check: run for every call, enabled or not, before anything is built:
            refuses arguments that could never work, whatever the config.
    """

    name: str
    enabled: Callable[[LayerRequest], bool]
    build: Callable[[LayerRequest], Decorator]
    options: tuple[str, ...] = ()
    check: Callable[[LayerRequest], None] | None = None


# --------------------------------------------------------------------------- the built-in layers


def _declared_default(request: LayerRequest) -> dict[str, Any] | None:
    """The safe default declared by the call, as ``Fallback`` arguments (None: none declared)."""
    value, func = request.options["fallback_value"], request.options["fallback"]
    if value is _NO_DEFAULT and func is None:
        return None
    return {"func": func} if value is _NO_DEFAULT else {"value": value, "func": func}


def _safe_default(request: LayerRequest) -> Fallback:
    declared = _declared_default(request) or {}
    registry = request.registry
    made = Fallback(
        **declared, name=request.name, clock=registry.clock, bus=registry.bus, register=False
    )
    return registry.add(made)


def _check_safe_default(request: LayerRequest) -> None:
    declared = _declared_default(request)
    if declared is not None:
        Fallback(**declared, register=False)  # a bad declaration fails in every configuration
    elif request.config.fail_safe_defaults:
        module, operation = request.module, request.operation
        raise InvalidArgumentError(
            f"[resilience.{module}] fail_safe_defaults is true, but {request.name!r} declares "
            "no safe default to answer with when it fails.",
            hint=f"Pass fallback_value=... (or fallback=lambda exc, *args, **kw: ...) to "
            f"with_resilience({module!r}, {operation!r}), or set fail_safe_defaults = false "
            f"under [resilience.{module}] if this module has no safe answer.",
            context={"module": module, "operation": operation},
        )


def _breaker(request: LayerRequest) -> Decorator:
    return request.registry.module_circuit_breaker(request.module, request.operation).call


def _retry(request: LayerRequest) -> Decorator:
    cfg = request.config
    return request.registry.retry(
        request.name,
        max_attempts=cfg.retry_max_attempts,
        base_delay=cfg.retry_base_delay,
        max_delay=cfg.retry_max_delay,
    )


def _rate_limiter(request: LayerRequest) -> Decorator:
    return _limited(request.registry.module_rate_limiter(request.module, request.operation))


def _seconds(request: LayerRequest) -> float | None:
    seconds: float | None = request.options["timeout"]
    return seconds if seconds is not None else request.config.timeout_seconds


def _timeout(request: LayerRequest) -> Decorator:
    registry = request.registry
    seconds = _seconds(request)
    assert seconds is not None  # enabled only with a timeout
    mode = TimeoutMode.THREAD if request.options["hard_timeout"] else TimeoutMode.DEADLINE
    made = Timeout(
        seconds,
        name=request.name,
        mode=mode,
        clock=registry.clock,
        bus=registry.bus,
        register=False,
    )
    return registry.add(made)


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


LAYERS: tuple[Layer, ...] = (
    Layer(
        "safe_default",
        lambda r: r.config.fail_safe_defaults,
        _safe_default,
        check=_check_safe_default,
    ),
    Layer(
        "circuit_breaker",
        lambda r: r.options["use_circuit_breaker"] and r.config.circuit_breaker_enabled,
        _breaker,
    ),
    Layer("retry", lambda r: r.options["use_retry"] and r.config.retry_max_attempts > 1, _retry),
    Layer(
        "rate_limiter",
        lambda r: r.options["use_rate_limiter"] and r.config.rate_limit_enabled,
        _rate_limiter,
    ),
    Layer("timeout", lambda r: _seconds(r) is not None, _timeout),
)
"""``with_resilience``'s layers, outermost first (see the module docstring)."""


def insert_layer(
    layer: Layer,
    *,
    after: str | None = None,
    before: str | None = None,
    layers: Sequence[Layer] = LAYERS,
) -> tuple[Layer, ...]:
    """``layers`` (default :data:`LAYERS`) with ``layer`` put ``after`` or ``before`` a named one.

    Give the result to a registry: ``ResilienceRegistry(settings, layers=...)``.
    """
    if (after is None) == (before is None):
        raise InvalidArgumentError(
            "insert_layer needs exactly one of after= or before=.",
            hint='e.g. insert_layer(MY_LAYER, after="retry")',
            context={"layer": layer.name},
        )
    anchor = after if after is not None else before
    names = [existing.name for existing in layers]
    if anchor not in names:
        raise InvalidArgumentError(
            f"There is no layer {anchor!r} to put {layer.name!r} next to.",
            hint=f"The layers are, outermost first: {', '.join(names)}.",
            context={"layer": layer.name, "anchor": anchor},
        )
    at = names.index(anchor) + (1 if after is not None else 0)
    return (*layers[:at], layer, *layers[at:])


# --------------------------------------------------------------------------- with_resilience


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
    **options: Any,
) -> Callable[[F], F]:
    """Protect a sync or async function with the configured resilience layers.

    Args:
        module: configuration module (``[resilience.<module>]``), e.g. ``"data"``.
        operation: names the patterns ``"<module>.<operation>"``.
        use_circuit_breaker: wrap in the module's breaker (if enabled in config).
        use_rate_limiter: take a permit from the module's limiter per attempt
            (if enabled in config).
        use_retry: retry failures with the module's ``retry_*`` settings.
        timeout: seconds per attempt (default: the module's ``timeout_seconds``).
        hard_timeout: sync calls run in a worker thread and are abandoned at the timeout.
        registry: where the patterns live, and which layers there are (default:
            the default registry).
        fallback_value: the safe answer when the call fails or is rejected, used
            only if the module's ``fail_safe_defaults`` is true (``None`` is a value).
        fallback: or a function computing it, ``fallback(exc, *args, **kwargs)``
            (``async def`` for async functions).
        options: keyword arguments of layers added to the registry's list
            (``Layer.options``); any other is refused.
    """
    reg = registry if registry is not None else default_registry()
    layers = reg.layers if reg.layers is not None else LAYERS
    known = {name for layer in layers for name in layer.options}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidArgumentError(
            f"with_resilience got keyword arguments no layer reads: {', '.join(unknown)}.",
            hint="Check the spelling; the added layers read: "
            f"{', '.join(sorted(known)) or 'nothing'}.",
            context={"module": module, "operation": operation, "unknown": unknown},
        )
    request = LayerRequest(
        reg,
        module,
        operation,
        reg.settings.for_module(module),
        {
            "use_circuit_breaker": use_circuit_breaker,
            "use_rate_limiter": use_rate_limiter,
            "use_retry": use_retry,
            "timeout": timeout,
            "hard_timeout": hard_timeout,
            "fallback_value": fallback_value,
            "fallback": fallback,
            **options,
        },
    )
    for layer in layers:
        if layer.check is not None:
            layer.check(request)
    enabled = [layer for layer in layers if layer.enabled(request)]

    def decorate(func: F) -> F:
        refuse_generators(func, "with_resilience")  # before anything is built
        wrapped: Callable[..., Any] = func
        for layer in reversed(enabled):  # innermost first
            wrapped = layer.build(request)(wrapped)
        return wrapped  # type: ignore[return-value]

    return decorate
