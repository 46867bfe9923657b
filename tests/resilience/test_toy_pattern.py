"""A new resilience pattern is one module plus one line in the layer list.

The toy below is such a module, written here: a ``CallCounter`` that counts
the calls it lets through. It keeps the pattern contract (a ``kind``, a
``name``, events on ``PatternEvent``, a frozen ``PatternStats``), joins a
registry by kind and name, and enters ``with_resilience`` through one line,
``insert_layer(COUNTER_LAYER, after="retry")``. Then a generic subscriber, a
registry lookup and ``with_resilience`` all work with it, sync and async,
without any of them knowing what a call counter is.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import InvalidArgumentError
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience import (
    LAYERS,
    Layer,
    LayerRequest,
    PatternEvent,
    PatternKind,
    PatternStats,
    ResilienceRegistry,
    insert_layer,
    with_resilience,
)
from peak_trade.resilience._wrap import wrap  # what a pattern module of the package uses

F = TypeVar("F", bound=Callable[..., Any])

# ----------------------------------------------------------------- the toy pattern's module


@dataclass(frozen=True, slots=True)
class CounterEvent(PatternEvent):
    """Base of the toy's events."""

    kind: ClassVar[str] = "call_counter"


@dataclass(frozen=True, slots=True)
class CallCounted(CounterEvent):
    number: int


@dataclass(frozen=True, slots=True)
class CallCounterStats(PatternStats):
    calls: int


class CallCounter:
    """Counts the calls it lets through and publishes each."""

    kind: ClassVar[str] = "call_counter"

    def __init__(self, name: str, *, bus: EventBus | None = None) -> None:
        self.name = name
        self._bus = bus
        self._numbers = itertools.count(1)
        self._calls = 0

    @property
    def stats(self) -> CallCounterStats:
        return CallCounterStats(self._calls)

    def _count(self) -> None:
        self._calls = number = next(self._numbers)
        if self._bus is not None and self._bus.wants(CallCounted):
            self._bus.publish(CallCounted(self.name, number))

    def _call_sync(self, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        self._count()
        return func(*args, **kwargs)

    async def _call_async(self, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        self._count()
        return await func(*args, **kwargs)

    def __call__(self, func: F) -> F:
        return wrap(func, self._call_sync, self._call_async, pattern="CallCounter")


def _counted(request: LayerRequest) -> CallCounter:
    return request.registry.add(CallCounter(request.name, bus=request.registry.bus))


COUNTER_LAYER = Layer(
    "call_counter",
    enabled=lambda request: bool(request.options.get("count_calls", False)),
    build=_counted,
    options=("count_calls",),
)

# ----------------------------------------------------------------- the tests


@pytest.fixture
def registry() -> ResilienceRegistry:
    settings = load_settings(
        environ={"PEAK_TRADE_RETRY_MAX_ATTEMPTS": "3", "PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD": "5"},
        use_default_file=False,
    ).resilience
    return ResilienceRegistry(
        settings,
        clock=ManualClock(),
        bus=EventBus(),
        layers=insert_layer(COUNTER_LAYER, after="retry"),  # the one line
    )


def test_the_layer_list_is_the_documented_order_and_takes_a_new_layer_in_one_line() -> None:
    assert [layer.name for layer in LAYERS] == [
        "safe_default",
        "circuit_breaker",
        "retry",
        "rate_limiter",
        "timeout",
    ]
    layers = insert_layer(COUNTER_LAYER, after="retry")
    assert [layer.name for layer in layers][2:4] == ["retry", "call_counter"]
    assert insert_layer(COUNTER_LAYER, before="safe_default")[0] is COUNTER_LAYER
    with pytest.raises(InvalidArgumentError, match="no layer"):
        insert_layer(COUNTER_LAYER, after="bulkhead")


def test_the_toy_pattern_runs_inside_with_resilience_at_its_place(
    registry: ResilienceRegistry,
) -> None:
    seen = EventRecorder(registry.bus, PatternEvent)  # type: ignore[arg-type]
    attempts: list[int] = []

    @with_resilience("data", "fetch", use_retry=True, count_calls=True, registry=registry)
    def fetch() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return "ok"

    assert fetch() == "ok"
    counter = registry.get("call_counter", "data.fetch")
    assert isinstance(counter, CallCounter)
    assert counter.stats == CallCounterStats(3)  # inside retry: every attempt passes it
    breaker = registry.get(PatternKind.BREAKER, "data.fetch")
    assert breaker is not None
    assert breaker.stats.success_count == 1  # outside retry: one call
    assert counter in registry.patterns()
    counted = [e.number for e in seen.of_type(CallCounted)]
    assert counted == [1, 2, 3]
    assert {(e.kind, e.name) for e in seen.events} >= {  # type: ignore[attr-defined]
        ("call_counter", "data.fetch"),
        (PatternKind.RETRY, "data.fetch"),
    }


def test_the_toy_pattern_serves_async_functions_too(registry: ResilienceRegistry) -> None:
    @with_resilience("data", "stream", count_calls=True, registry=registry)
    async def stream() -> str:
        return "tick"

    assert asyncio.run(stream()) == "tick"
    counter = registry.get("call_counter", "data.stream")
    assert counter is not None
    assert counter.stats == CallCounterStats(1)


def test_the_toy_layer_stays_out_unless_its_switch_is_on(registry: ResilienceRegistry) -> None:
    @with_resilience("data", "plain", registry=registry)
    def plain() -> str:
        return "ok"

    assert plain() == "ok"
    assert registry.patterns("call_counter") == []


def test_a_keyword_no_layer_reads_is_refused(registry: ResilienceRegistry) -> None:
    with pytest.raises(InvalidArgumentError, match="count_cals") as info:
        with_resilience("data", "typo", count_cals=True, registry=registry)
    assert "count_calls" in info.value.hint


def test_without_the_toy_layer_its_switch_is_unknown() -> None:
    with pytest.raises(InvalidArgumentError, match="count_calls"):
        with_resilience("data", "x", count_calls=True, registry=ResilienceRegistry())
