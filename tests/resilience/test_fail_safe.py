"""``[resilience] fail_safe_defaults``: answer with the declared safe default instead of raising.

Seed 002 sets ``fail_safe_defaults = true`` under ``[resilience.risk]``. A
``with_resilience`` call of such a module declares its safe answer
(``fallback_value=`` or ``fallback=``); when the call fails or is rejected
(breaker open, rate limited, retries exhausted, timed out) it returns that
answer. Without the setting, the errors propagate and the declared default is
not used. With the setting but no default, decorating fails at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import InvalidArgumentError, RateLimitExceeded
from peak_trade.events import EventBus, EventRecorder
from peak_trade.resilience import FallbackUsed, ResilienceRegistry, with_resilience

SEED_002_RESILIENCE = """
[resilience]
circuit_breaker_enabled = true
circuit_breaker_threshold = 5
circuit_breaker_timeout = 60
rate_limit_enabled = true
rate_limit_requests = 100
rate_limit_window = 60
metrics_enabled = true

[resilience.portfolio]
circuit_breaker_threshold = 3
circuit_breaker_timeout = 30

[resilience.risk]
circuit_breaker_threshold = 3
fail_safe_defaults = true
"""


@pytest.fixture
def seed_registry(tmp_path: Path) -> tuple[ResilienceRegistry, EventRecorder]:
    """A registry configured by seed 002's ``[resilience]`` section, events recorded."""
    path = tmp_path / "peaktrade.toml"
    path.write_text(SEED_002_RESILIENCE)
    settings = load_settings(path, environ={}).resilience
    bus = EventBus()
    return ResilienceRegistry(settings, clock=ManualClock(), bus=bus), EventRecorder(bus)


REJECT = {"approved": False, "reason": "risk service unavailable"}


def test_seed_002_risk_check_answers_its_safe_default(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, events = seed_registry
    calls = []

    @with_resilience("risk", "check_order", registry=reg, fallback_value=REJECT)
    def check_order(order_id: str) -> dict[str, object]:
        calls.append(order_id)
        raise ConnectionError("risk engine down")

    for i in range(3):  # fails, then the breaker opens (threshold 3)
        assert check_order(f"o{i}") == REJECT
    assert reg.circuit_breakers()["risk.check_order"].stats.failure_count == 3
    assert check_order("o3") == REJECT  # breaker open: rejected, and still the safe answer
    assert calls == ["o0", "o1", "o2"]
    used = events.of_type(FallbackUsed)
    assert [e.exception_type for e in used] == ["ConnectionError"] * 3 + ["CircuitOpenError"]
    assert {e.name for e in used} == {"risk.check_order"}


def test_other_modules_keep_raising_even_with_a_declared_default(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry

    @with_resilience("portfolio", "value", registry=reg, fallback_value=0.0)
    def value() -> float:
        raise ConnectionError("prices down")

    with pytest.raises(ConnectionError):
        value()


def test_a_fail_safe_module_without_a_declared_default_is_refused_at_decoration(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry
    with pytest.raises(InvalidArgumentError, match="fail_safe_defaults") as info:

        @with_resilience("risk", "exposure", registry=reg)
        def exposure() -> float:
            return 1.0

    err = info.value
    assert err.context == {"module": "risk", "operation": "exposure"}
    assert err.hint
    assert "fallback_value=" in err.hint


def test_a_fallback_function_gets_the_error_and_the_arguments(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry
    reg.rate_limiter("risk.limits", 1, 60.0)

    def reject(exc: BaseException, symbol: str) -> str:
        return f"reject {symbol}: {type(exc).__name__}"

    @with_resilience("risk", "limits", use_rate_limiter=True, registry=reg, fallback=reject)
    def limits(symbol: str) -> str:
        return f"ok {symbol}"

    assert limits("BTC") == "ok BTC"
    assert limits("ETH") == f"reject ETH: {RateLimitExceeded.__name__}"


def test_async_calls_and_async_fallbacks(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry

    async def reject(exc: BaseException) -> str:
        await asyncio.sleep(0)
        return "rejected"

    @with_resilience("risk", "acheck", registry=reg, fallback=reject)
    async def acheck() -> str:
        raise TimeoutError("slow")

    assert asyncio.run(acheck()) == "rejected"


def test_both_a_value_and_a_function_is_ambiguous(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        with_resilience("risk", "x", registry=reg, fallback_value=1, fallback=lambda exc: 2)


def test_none_is_a_valid_safe_default(
    seed_registry: tuple[ResilienceRegistry, EventRecorder],
) -> None:
    reg, _ = seed_registry

    @with_resilience("risk", "optional", registry=reg, fallback_value=None)
    def optional() -> int:
        raise ConnectionError

    assert optional() is None
