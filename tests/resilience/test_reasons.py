"""Why a retry gave up and where a fallback's answer came from are enums, not text to parse."""

from __future__ import annotations

import pytest
import structlog

from peak_trade.clock import ManualClock
from peak_trade.events import EventBus
from peak_trade.resilience import (
    FallbackStrategy,
    FallbackUsed,
    GiveUpReason,
    RetryExhausted,
    fallback,
    retry_with_backoff,
)


def _exhausted(**options: float) -> RetryExhausted:
    bus = EventBus()
    seen: list[RetryExhausted] = []
    bus.subscribe(RetryExhausted, seen.append)
    clock = ManualClock()

    @retry_with_backoff(
        max_attempts=5, base_delay=10.0, jitter=False, clock=clock, bus=bus, **options
    )
    def flaky() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError) as caught:
        flaky()
    assert any("gave up after" in note for note in caught.value.__notes__)
    [event] = seen
    return event


def test_running_out_of_attempts_is_reported_as_attempts() -> None:
    event = _exhausted()
    assert event.reason is GiveUpReason.ATTEMPTS
    assert event.attempts == 5


def test_a_deadline_is_reported_as_deadline() -> None:
    event = _exhausted(deadline=25.0)
    assert event.reason is GiveUpReason.DEADLINE
    assert event.reason == "deadline"  # a StrEnum: old string comparisons keep working


@pytest.mark.parametrize(
    ("options", "strategy"),
    [
        ({"value": 0}, FallbackStrategy.VALUE),
        ({"func": lambda exc: 0}, FallbackStrategy.FUNC),
    ],
)
def test_fallback_strategy_is_an_enum_in_the_object_and_the_event(
    options: dict[str, object], strategy: FallbackStrategy
) -> None:
    bus = EventBus()
    used: list[FallbackUsed] = []
    bus.subscribe(FallbackUsed, used.append)

    @fallback(bus=bus, **options)  # type: ignore[arg-type]
    def fetch() -> int:
        raise TimeoutError

    assert fetch() == 0
    assert used[0].strategy is strategy


def test_the_give_up_log_names_the_reason_by_its_enum_value() -> None:
    with structlog.testing.capture_logs() as logs:
        _exhausted(deadline=25.0)
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert warning["reason"] == GiveUpReason.DEADLINE
    assert warning["detail"] == "deadline of 25s"
