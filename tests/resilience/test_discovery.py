"""Named breakers and limiters are found through the default registry.

Seed 002's troubleshooting recipe (``get_all_circuit_breakers()["x"].reset()``)
and the health and metrics layers list every breaker of the process. Breakers
made by hand with a name (``CircuitBreaker(name=...)``,
``@circuit_breaker(name=...)``) and named ``RateLimiter``s join that list,
weakly held: one nobody references any more disappears from it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import structlog

from peak_trade.clock import ManualClock
from peak_trade.resilience import (
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    ResilienceRegistry,
    circuit_breaker,
    get_all_circuit_breakers,
    get_all_rate_limiters,
    set_default_registry,
)


@pytest.fixture(autouse=True)
def default_reg() -> Iterator[ResilienceRegistry]:
    set_default_registry(None)  # forget whatever earlier tests left behind
    reg = ResilienceRegistry(clock=ManualClock())  # built-in defaults: no config file read
    set_default_registry(reg)
    yield reg
    set_default_registry(None)


def test_a_named_breaker_is_found_and_the_seed_recipe_resets_it() -> None:
    breaker = CircuitBreaker(1, 60.0, name="binance.orders")
    with pytest.raises(ConnectionError):
        breaker.call(_fail)()
    assert breaker.state is CircuitState.OPEN
    found = get_all_circuit_breakers()
    assert found["binance.orders"] is breaker
    found["binance.orders"].reset()  # seed 002, "Circuit Breaker Stuck Open"
    assert breaker.state is CircuitState.CLOSED


def test_a_named_decorator_breaker_is_found() -> None:
    @circuit_breaker(failure_threshold=3, name="kraken.ticker")
    def ticker() -> str:
        return "ok"

    assert get_all_circuit_breakers()["kraken.ticker"] is ticker.breaker  # type: ignore[attr-defined]


def test_named_patterns_are_weakly_held() -> None:
    CircuitBreaker(name="short-lived")
    RateLimiter(10, 1.0, name="short-lived")
    gc.collect()
    assert "short-lived" not in get_all_circuit_breakers()
    assert "short-lived" not in get_all_rate_limiters()


def test_a_decorated_function_keeps_its_breaker_listed() -> None:
    @circuit_breaker(name="kept")
    def call() -> None:
        return None

    gc.collect()
    assert "kept" in get_all_circuit_breakers()
    del call
    gc.collect()
    assert "kept" not in get_all_circuit_breakers()


def test_two_live_breakers_with_one_name_show_the_newest_and_warn() -> None:
    old = CircuitBreaker(name="dup")
    with structlog.testing.capture_logs() as logs:
        new = CircuitBreaker(name="dup")
    assert get_all_circuit_breakers()["dup"] is new
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["name"] == "dup"
    del new
    gc.collect()
    assert get_all_circuit_breakers()["dup"] is old  # the older one is still tracked


def test_a_name_reused_after_the_first_one_died_does_not_warn() -> None:
    CircuitBreaker(name="reused")
    gc.collect()
    with structlog.testing.capture_logs() as logs:
        again = CircuitBreaker(name="reused")
    assert [e for e in logs if e["log_level"] == "warning"] == []
    assert get_all_circuit_breakers()["reused"] is again


def test_opting_out() -> None:
    private = CircuitBreaker(name="private", register=False)
    quiet = RateLimiter(5, 1.0, name="private", register=False)
    unnamed = CircuitBreaker()
    assert "private" not in get_all_circuit_breakers()
    assert "private" not in get_all_rate_limiters()
    assert unnamed.name not in get_all_circuit_breakers()
    assert (private, quiet) == (private, quiet)  # kept alive until here


def test_patterns_of_another_registry_live_only_there(
    default_reg: ResilienceRegistry,
) -> None:
    other = ResilienceRegistry(clock=ManualClock())
    mine = other.circuit_breaker("elsewhere")
    limiter = other.rate_limiter("elsewhere")
    assert other.circuit_breakers() == {"elsewhere": mine}
    assert other.rate_limiters() == {"elsewhere": limiter}
    assert "elsewhere" not in get_all_circuit_breakers()
    assert "elsewhere" not in get_all_rate_limiters()
    made = default_reg.circuit_breaker("made.here")
    assert get_all_circuit_breakers()["made.here"] is made


def test_the_default_registrys_own_breaker_wins_a_name_clash(
    default_reg: ResilienceRegistry,
) -> None:
    made = default_reg.module_circuit_breaker("data", "fetch")
    by_hand = CircuitBreaker(name="data.fetch")
    assert get_all_circuit_breakers()["data.fetch"] is made
    assert by_hand.name == "data.fetch"


def test_named_limiters_are_found() -> None:
    limiter = RateLimiter(1200, 60.0, name="binance.weight")
    assert get_all_rate_limiters()["binance.weight"] is limiter


def test_installing_a_registry_keeps_named_patterns_and_reset_forgets_them() -> None:
    breaker = CircuitBreaker(name="survives")
    set_default_registry(ResilienceRegistry(clock=ManualClock()))  # e.g. at application start
    assert get_all_circuit_breakers()["survives"] is breaker
    set_default_registry(None)  # the documented reset (tests)
    set_default_registry(ResilienceRegistry(clock=ManualClock()))
    assert "survives" not in get_all_circuit_breakers()


def _fail() -> None:
    raise ConnectionError("down")
