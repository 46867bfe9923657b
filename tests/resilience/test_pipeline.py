from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from peak_trade.clock import ManualClock
from peak_trade.config import load_settings
from peak_trade.errors import CircuitOpenError, RateLimitExceeded
from peak_trade.resilience import CircuitState
from peak_trade.resilience.pipeline import with_resilience
from peak_trade.resilience.registry import (
    ResilienceRegistry,
    create_module_circuit_breaker,
    create_module_rate_limiter,
    default_registry,
    get_all_circuit_breakers,
    get_all_rate_limiters,
    set_default_registry,
)
from peak_trade.resilience.timeout import remaining_time


@pytest.fixture(autouse=True)
def _fresh_default_registry() -> Iterator[None]:
    set_default_registry(None)
    yield
    set_default_registry(None)


def registry(**env: str) -> tuple[ResilienceRegistry, ManualClock]:
    clock = ManualClock(start=0)
    settings = load_settings(environ=env, use_default_file=False).resilience
    return ResilienceRegistry(settings, clock=clock), clock


def fail_n(breaker_call: object, n: int) -> None:
    for _ in range(n):
        with pytest.raises(ConnectionError):
            breaker_call()  # type: ignore[operator]


def test_seed_002_module_breaker_uses_module_overrides() -> None:
    reg, _ = registry(
        PEAK_TRADE_RESILIENCE__PORTFOLIO__CIRCUIT_BREAKER_THRESHOLD="3",
        PEAK_TRADE_RESILIENCE__PORTFOLIO__CIRCUIT_BREAKER_TIMEOUT="30",
    )
    set_default_registry(reg)
    breaker = create_module_circuit_breaker("portfolio", "calculation")

    @breaker.call
    def calculate() -> None:
        raise ConnectionError("db down")

    fail_n(calculate, 3)
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        calculate()
    assert info.value.retry_after == pytest.approx(30)
    assert get_all_circuit_breakers() == {"portfolio.calculation": breaker}
    assert create_module_circuit_breaker("portfolio", "calculation") is breaker  # same instance
    get_all_circuit_breakers()["portfolio.calculation"].reset()
    assert breaker.state is CircuitState.CLOSED


def test_seed_env_threshold_reaches_the_default_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/peaktrade.toml here: defaults + environment
    monkeypatch.setenv("PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD", "10")
    set_default_registry(None)
    assert default_registry().settings.circuit_breaker_threshold == 10
    breaker = create_module_circuit_breaker("data", "fetch")

    @breaker.call
    def fetch() -> None:
        raise ConnectionError

    fail_n(fetch, 9)
    assert breaker.state is CircuitState.CLOSED
    fail_n(fetch, 1)
    assert breaker.state is CircuitState.OPEN


def test_module_rate_limiter_and_named_exchange_limits() -> None:
    reg, _ = registry(
        PEAK_TRADE_RESILIENCE__DATA__RATE_LIMIT_REQUESTS="2",
        PEAK_TRADE_RESILIENCE__RATE_LIMITS__BINANCE="15",
    )
    set_default_registry(reg)
    limiter = create_module_rate_limiter("data", "api")
    assert [limiter.acquire() for _ in range(3)] == [True, True, False]
    binance = reg.rate_limiter("binance")
    assert binance.get_stats()["max_requests"] == 15
    assert binance.get_stats()["window_seconds"] == 1.0
    assert set(get_all_rate_limiters()) == {"data.api", "binance"}


def test_with_resilience_breaker_opens_and_rejects_without_calling() -> None:
    reg, _ = registry(PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="2")
    calls = []

    @with_resilience("backtest", "data_load", registry=reg)
    def load(symbol: str) -> str:
        calls.append(symbol)
        raise ConnectionError("feed down")

    fail_n(lambda: load("BTC"), 2)
    with pytest.raises(CircuitOpenError):
        load("BTC")
    assert len(calls) == 2
    assert load.__name__ == "load"


def test_rate_limit_rejection_is_not_a_breaker_failure() -> None:
    reg, _ = registry(PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="1", PEAK_TRADE_RATE_LIMIT_REQUESTS="1")

    @with_resilience("data", "api", use_rate_limiter=True, registry=reg)
    def fetch() -> str:
        return "ok"

    assert fetch() == "ok"
    with pytest.raises(RateLimitExceeded):
        fetch()
    assert reg.circuit_breakers()["data.api"].state is CircuitState.CLOSED


def test_retry_inside_breaker_waits_out_the_rate_limit_and_counts_one_failure() -> None:
    reg, clock = registry(
        PEAK_TRADE_RATE_LIMIT_REQUESTS="1",
        PEAK_TRADE_RATE_LIMIT_WINDOW="10",
        PEAK_TRADE_RETRY_MAX_ATTEMPTS="3",
        PEAK_TRADE_RETRY_BASE_DELAY="0.5",
    )

    @with_resilience("data", "api", use_rate_limiter=True, use_retry=True, registry=reg)
    def fetch() -> str:
        return "ok"

    assert fetch() == "ok"
    assert fetch() == "ok"  # second permit after waiting the limiter's retry_after
    assert sum(clock.sleeps) >= 10 - 1e-9

    attempts = []

    @with_resilience("live", "order_status", use_retry=True, registry=reg)
    def flaky() -> None:
        attempts.append(1)
        raise ConnectionError

    with pytest.raises(ConnectionError):
        flaky()
    assert len(attempts) == 3
    assert reg.circuit_breakers()["live.order_status"].stats.failure_count == 1


def test_disabled_in_config_means_no_breaker() -> None:
    reg, _ = registry(PEAK_TRADE_RESILIENCE__RISK__CIRCUIT_BREAKER_ENABLED="false")

    @with_resilience("risk", "check", registry=reg)
    def check() -> None:
        raise ConnectionError

    fail_n(check, 20)
    assert "risk.check" not in reg.circuit_breakers()


def test_timeout_from_module_config_sets_a_deadline() -> None:
    reg, _ = registry(PEAK_TRADE_RESILIENCE__LIVE__TIMEOUT_SECONDS="2.5")
    seen = []

    @with_resilience("live", "fetch", registry=reg)
    def fetch() -> None:
        seen.append(remaining_time(reg.clock))

    fetch()
    assert seen == [2.5]


def test_async_pipeline() -> None:
    reg, _ = registry(PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="1")

    @with_resilience("data", "stream", timeout=5, registry=reg)
    async def stream() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        asyncio.run(stream())
    with pytest.raises(CircuitOpenError):
        asyncio.run(stream())
