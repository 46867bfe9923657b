from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from peak_trade.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    is_secret_key,
    mask_url_credentials,
    redact_secrets,
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "key",
    ["api_key", "API-KEY", "apiKey", "password", "db_passwd", "secret", "x_token", "Authorization"],
)
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["symbol", "threshold", "url", "event", "breaker"])
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_url_credentials_are_masked() -> None:
    assert mask_url_credentials("redis://:hunter2@db:6379/0") == "redis://:***@db:6379/0"
    assert mask_url_credentials("see https://bob:pw@x.io/a and rediss://u:p@h") == (
        "see https://bob:***@x.io/a and rediss://u:***@h"
    )
    assert mask_url_credentials("redis://db:6379/0") == "redis://db:6379/0"


def test_redaction_processor_masks_at_any_depth() -> None:
    event = {
        "event": "connecting to redis://:pw@h:1",
        "api_key": "AKIA123",
        "exchange": {"id": "binance", "secret": "s3cr3t", "nested": [{"token": "t"}]},
        "password": None,
    }
    out = redact_secrets(None, "info", dict(event))
    assert out["event"] == "connecting to redis://:***@h:1"
    assert out["api_key"] == REDACTED
    assert out["exchange"] == {"id": "binance", "secret": REDACTED, "nested": [{"token": REDACTED}]}
    assert out["password"] is None


def test_json_lines_when_not_a_tty_and_secrets_never_reach_the_stream() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream=stream)
    log = get_logger("peak_trade.test")
    log.info("order placed", symbol="BTC/USDT", api_key="AKIA-VERY-SECRET")
    log.debug("hidden at INFO")
    logging.getLogger("thirdparty").warning("password=%s", "x")  # stdlib goes through the pipeline
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "order placed"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "peak_trade.test"
    assert lines[0]["api_key"] == REDACTED
    assert "timestamp" in lines[0]
    assert "AKIA-VERY-SECRET" not in stream.getvalue()
    assert len(lines) == 2
    assert lines[1]["level"] == "warning"


def test_console_renderer_on_a_tty() -> None:
    stream = FakeTTY()
    configure_logging("debug", "auto", stream=stream)
    get_logger("t").debug("hello", password="pw")
    text = stream.getvalue()
    assert "hello" in text
    assert "pw" not in text.replace("password", "")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_forced_json_on_a_tty() -> None:
    stream = FakeTTY()
    configure_logging("INFO", "json", stream=stream)
    get_logger("t").info("x")
    assert json.loads(stream.getvalue())["event"] == "x"
