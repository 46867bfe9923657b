from __future__ import annotations

import pickle

import pytest

from peak_trade import errors
from peak_trade.errors import (
    CircuitOpenError,
    ConfigError,
    DataContractError,
    ExchangeRateLimitedError,
    InvalidArgumentError,
    OperationTimeoutError,
    PeakTradeError,
    RateLimitExceeded,
)

ALL_ERRORS = [getattr(errors, name) for name in errors.__all__]


def test_seed_example_shows_message_hint_and_context() -> None:
    err = ConfigError(
        "Unknown strategy key: 'foo'",
        hint="Available strategies: ['momentum', 'mean_reversion']",
        context={"key": "foo", "available": ["momentum", "mean_reversion"]},
    )
    text = str(err)
    assert text.splitlines()[0] == "Unknown strategy key: 'foo'"
    assert "Hint: Available strategies: ['momentum', 'mean_reversion']" in text
    assert "Context: available=['momentum', 'mean_reversion'], key='foo'" in text
    assert err.context == {"key": "foo", "available": ["momentum", "mean_reversion"]}


def test_message_only_has_no_empty_sections() -> None:
    assert str(DataContractError("bad data")) == "bad data"


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_every_error_is_a_peak_trade_error_and_documented(cls: type[Exception]) -> None:
    assert issubclass(cls, PeakTradeError)
    assert errors.__doc__ is not None
    assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the tree in errors.py"


def test_default_hint_applies_and_can_be_overridden() -> None:
    assert ConfigError("x").hint is not None
    assert ConfigError("x", hint="do y").hint == "do y"


def test_builtin_compatibility() -> None:
    assert isinstance(InvalidArgumentError("x"), ValueError)
    assert isinstance(OperationTimeoutError("x"), TimeoutError)


def test_circuit_open_error_carries_name_and_retry_after() -> None:
    err = CircuitOpenError("open", name="binance", retry_after=12.5)
    assert err.name == "binance"
    assert err.retry_after == 12.5
    assert err.context["breaker"] == "binance"
    assert "binance" in str(err)


@pytest.mark.parametrize(
    "err",
    [
        ConfigError("x", hint="h", context={"k": 1}),
        CircuitOpenError("open", name="b", retry_after=3.0),
        RateLimitExceeded("slow down", retry_after=2.0),
        ExchangeRateLimitedError("429", retry_after=1.5, context={"weight": 1200}),
    ],
)
def test_errors_survive_pickling(err: PeakTradeError) -> None:
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert str(clone) == str(err)
    assert clone.__dict__ == err.__dict__
