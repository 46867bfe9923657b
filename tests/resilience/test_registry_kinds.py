"""One registry, keyed by kind and name, holds every resilience pattern.

``registry.get(PatternKind.BREAKER, "exchange.orders")`` finds a breaker the
way ``registry.get(PatternKind.BULKHEAD, "exchange.pool")`` finds a bulkhead,
and the default registry lists every named pattern of every kind, so health
and metrics read them all without knowing any one of them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import structlog
from pattern_helpers import one_of_each

from peak_trade.clock import ManualClock
from peak_trade.resilience import (
    Bulkhead,
    CircuitBreaker,
    Fallback,
    PatternKind,
    RateLimiter,
    ResilienceRegistry,
    Retry,
    Timeout,
    default_registry,
    get_all_circuit_breakers,
    get_all_rate_limiters,
    retry_with_backoff,
    set_default_registry,
)


@pytest.fixture(autouse=True)
def default_reg() -> Iterator[ResilienceRegistry]:
    set_default_registry(None)
    reg = ResilienceRegistry(clock=ManualClock())
    set_default_registry(reg)
    yield reg
    set_default_registry(None)


def _keys(registry: ResilienceRegistry, kind: str | None = None) -> set[tuple[str, str]]:
    return {(p.kind, p.name) for p in registry.patterns(kind)}


def test_patterns_made_by_the_registry_are_found_by_kind_and_name() -> None:
    reg = ResilienceRegistry(clock=ManualClock())
    breaker = reg.module_circuit_breaker("exchange", "orders")
    limiter = reg.rate_limiter("binance")
    retry = reg.retry("exchange.fetch", max_attempts=4)
    assert reg.get(PatternKind.BREAKER, "exchange.orders") is breaker
    assert reg.get(PatternKind.RATE_LIMITER, "binance") is limiter
    assert reg.get(PatternKind.RETRY, "exchange.fetch") is retry
    assert reg.retry("exchange.fetch") is retry  # one per name, like breakers
    assert retry.max_attempts == 4
    assert reg.get(PatternKind.BREAKER, "binance") is None  # the kind is part of the key
    assert reg.get("breaker", "exchange.orders") is breaker  # the kind's string value works too
    assert _keys(reg) == {
        (PatternKind.BREAKER, "exchange.orders"),
        (PatternKind.RATE_LIMITER, "binance"),
        (PatternKind.RETRY, "exchange.fetch"),
    }
    assert reg.patterns(PatternKind.RETRY) == [retry]


def test_a_retry_from_the_registry_uses_the_registrys_clock_bus_and_defaults() -> None:
    clock = ManualClock()
    reg = ResilienceRegistry(clock=clock)
    retry = reg.retry("r")
    assert retry.clock is clock
    assert retry.max_attempts == reg.settings.retry_max_attempts


def test_any_pattern_can_be_added_and_the_newest_of_a_name_is_listed() -> None:
    reg = ResilienceRegistry(clock=ManualClock())
    pool = reg.add(Bulkhead(4, name="exchange.pool", register=False))
    first = reg.add(Timeout(2.0, name="exchange.slow", register=False))
    second = reg.add(Timeout(5.0, name="exchange.slow", register=False))
    assert pool.max_concurrent == 4
    assert reg.get(PatternKind.BULKHEAD, "exchange.pool") is pool
    assert reg.get(PatternKind.TIMEOUT, "exchange.slow") is second
    assert first is not second
    assert _keys(reg, PatternKind.TIMEOUT) == {(PatternKind.TIMEOUT, "exchange.slow")}


def test_the_default_registry_lists_every_named_pattern_of_every_kind() -> None:
    made = one_of_each(ManualClock())
    listed = default_registry().patterns()
    for pattern in made:
        assert pattern in listed
        assert default_registry().get(pattern.kind, pattern.name) is pattern
    assert {p.kind for p in listed} == set(PatternKind)


def test_unnamed_and_opted_out_patterns_are_not_listed() -> None:
    kept = [
        Bulkhead(1),
        Timeout(1.0),
        Fallback(value=0),
        Retry(),
        Bulkhead(1, name="quiet", register=False),
        Retry(name="quiet", register=False),
    ]
    assert default_registry().patterns() == []
    assert len(kept) == 6


def test_a_named_retry_decorator_is_listed_and_an_unnamed_one_is_not() -> None:
    @retry_with_backoff(max_attempts=2, name="exchange.ticker")
    def ticker() -> str:
        return "ok"

    @retry_with_backoff(max_attempts=2)
    def anonymous() -> str:
        return "ok"

    assert default_registry().get(PatternKind.RETRY, "exchange.ticker") is ticker.retry  # type: ignore[attr-defined]
    assert [p.name for p in default_registry().patterns(PatternKind.RETRY)] == ["exchange.ticker"]
    assert anonymous() == "ok"


def test_named_patterns_of_every_kind_are_weakly_held() -> None:
    Bulkhead(1, name="gone")
    Timeout(1.0, name="gone")
    Fallback(value=0, name="gone")
    Retry(name="gone")
    gc.collect()
    assert default_registry().patterns() == []


def test_a_name_clash_within_a_kind_warns_and_lists_the_newest() -> None:
    old = Bulkhead(1, name="pool")
    with structlog.testing.capture_logs() as logs:
        new = Bulkhead(2, name="pool")
        Timeout(1.0, name="pool")  # another kind: no clash
    assert default_registry().get(PatternKind.BULKHEAD, "pool") is new
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert warning["name"] == "pool"
    assert "bulkhead" in warning["event"]
    del new
    gc.collect()
    assert default_registry().get(PatternKind.BULKHEAD, "pool") is old


def test_another_registry_lists_only_its_own_until_it_becomes_the_default() -> None:
    pool = Bulkhead(1, name="pool")
    other = ResilienceRegistry(clock=ManualClock())
    assert other.get(PatternKind.BULKHEAD, "pool") is None
    assert other.patterns() == []
    set_default_registry(other)
    assert other.get(PatternKind.BULKHEAD, "pool") is pool


def test_the_registrys_own_pattern_wins_a_clash_with_one_made_by_hand(
    default_reg: ResilienceRegistry,
) -> None:
    by_hand = Bulkhead(1, name="data.fetch")
    own = default_reg.add(Bulkhead(3, name="data.fetch", register=False))
    assert default_reg.get(PatternKind.BULKHEAD, "data.fetch") is own
    assert default_reg.patterns(PatternKind.BULKHEAD) == [own]
    assert by_hand.name == "data.fetch"


def test_the_reset_forgets_named_patterns_of_every_kind() -> None:
    kept = [Bulkhead(1, name="h"), Retry(name="r"), CircuitBreaker(name="b")]
    set_default_registry(None)
    set_default_registry(ResilienceRegistry(clock=ManualClock()))
    assert default_registry().patterns() == []
    assert len(kept) == 3


def test_the_seed_listings_are_views_of_the_registry(default_reg: ResilienceRegistry) -> None:
    made = default_reg.module_circuit_breaker("data", "fetch")
    by_hand = CircuitBreaker(name="binance.orders")
    limiter = RateLimiter(10, 1.0, name="binance.weight")
    assert get_all_circuit_breakers() == {"data.fetch": made, "binance.orders": by_hand}
    assert get_all_rate_limiters() == {"binance.weight": limiter}


def test_adding_something_that_is_not_a_pattern_is_refused() -> None:
    from peak_trade.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="kind"):
        ResilienceRegistry().add(object())  # type: ignore[arg-type]


def test_every_layer_with_resilience_builds_is_found_in_its_registry() -> None:
    from peak_trade.config import load_settings
    from peak_trade.resilience import with_resilience

    settings = load_settings(
        environ={"PEAK_TRADE_RESILIENCE__RISK__FAIL_SAFE_DEFAULTS": "true"}, use_default_file=False
    ).resilience
    reg = ResilienceRegistry(settings, clock=ManualClock())

    @with_resilience(
        "risk",
        "check",
        use_retry=True,
        use_rate_limiter=True,
        timeout=2.0,
        fallback_value=False,
        registry=reg,
    )
    def check() -> bool:
        return True

    assert check() is True
    assert {(p.kind, p.name) for p in reg.patterns()} == {
        (kind, "risk.check") for kind in PatternKind if kind is not PatternKind.BULKHEAD
    }
    timeout = reg.get(PatternKind.TIMEOUT, "risk.check")
    assert timeout is not None
    assert timeout.stats.calls == 1
    retry = reg.get(PatternKind.RETRY, "risk.check")
    assert retry is not None
    assert retry.stats.calls == 1
