from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

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


# ---------------------------------------------------------------- passwords in URLs


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("redis://:p@ss@db:6379/0", "p@ss"),  # a raw '@' in the password
        ("redis://:pa/ss@db:6379/0", "pa/ss"),  # a raw '/' in the password
        ("redis://bob:s3@x9/q7@db/0", "s3@x9/q7"),
        ("REDIS://:Hunter2Sekr1t@127.0.0.1:6399/0", "Hunter2Sekr1t"),  # any case
        ("url='rediss://u:pw%40x@h:1/0'", "pw%40x"),
        ("Error connecting with redis://:s3cret@h:1/0: refused", "s3cret"),
    ],
)
def test_the_whole_password_is_masked(text: str, secret: str) -> None:
    masked = mask_url_credentials(text)
    assert secret not in masked
    for part in secret.replace("/", "@").split("@"):
        assert part not in masked
    assert REDACTED in masked


def test_masking_keeps_the_parts_that_help_and_leaves_other_text_alone() -> None:
    assert mask_url_credentials("redis://:p@ss@db:6379/0") == "redis://:***@db:6379/0"
    assert mask_url_credentials("redis://bob:pa/ss@db:6379/0") == "redis://bob:***@db:6379/0"
    assert mask_url_credentials("two: redis://:a@h1/0 and redis://:b@h2/0") == (
        "two: redis://:***@h1/0 and redis://:***@h2/0"
    )
    assert mask_url_credentials("mail bob@example.com about redis://db/0") == (
        "mail bob@example.com about redis://db/0"
    )
    assert mask_url_credentials("redis://user@db/0") == "redis://user@db/0"  # no password


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_exception_field_is_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = get_logger("peak_trade.test")
    try:
        raise ConnectionError("cannot reach redis://:Hunter2@db:6379/0")
    except ConnectionError:
        log.exception("store failed")
    [line] = _json_lines(stream.getvalue())
    assert "Hunter2" not in stream.getvalue()
    assert "redis://:***@db:6379/0" in str(line["exception"])


def test_console_exception_and_object_reprs_are_redacted() -> None:
    class Holder:
        def __repr__(self) -> str:
            return "Holder(url='redis://:Hunter2@db:6379/0')"

    stream = FakeTTY()
    configure_logging("INFO", "console", stream=stream)
    log = get_logger("peak_trade.test")
    log.info("settings", settings=Holder())
    try:
        raise ConnectionError("cannot reach redis://:Hunter2@db:6379/0")
    except ConnectionError:
        log.exception("store failed")
    text = stream.getvalue()
    assert "store failed" in text
    assert "Holder(url='redis://:***@db:6379/0')" in text
    assert "Hunter2" not in text


def test_stdlib_records_are_redacted_after_rendering_too() -> None:
    for fmt in ("json", "console"):
        stream = io.StringIO()
        configure_logging("INFO", fmt, stream=stream)  # type: ignore[arg-type]
        try:
            raise ConnectionError("cannot reach redis://:Hunter2@db:6379/0")
        except ConnectionError:
            logging.getLogger("thirdparty").exception("lost %s", "redis://:Hunter2@db/1")
        text = stream.getvalue()
        assert "lost" in text
        assert "Hunter2" not in text, fmt
        assert "redis://:***@db:6379/0" in text


# ---------------------------------------------------------------- loggers made at import


def test_a_logger_made_before_configure_logging_follows_it() -> None:
    log = get_logger("peak_trade.early")  # as a module-level `_log = get_logger(...)` is
    first = io.StringIO()
    configure_logging("WARNING", "json", stream=first)
    log.info("hidden at WARNING")
    log.warning("w1", password="pw")
    second = FakeTTY()
    configure_logging("DEBUG", "console", stream=second)
    log.debug("now visible")
    [line] = _json_lines(first.getvalue())
    assert line["event"] == "w1"
    assert line["password"] == REDACTED
    assert line["logger"] == "peak_trade.early"
    assert "now visible" in second.getvalue()
    assert "w1" not in second.getvalue()


def test_bound_loggers_stay_lazy() -> None:
    log = get_logger("peak_trade.early").bind(breaker="api")
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log.info("bound", token="t0ken")
    [line] = _json_lines(stream.getvalue())
    assert (line["breaker"], line["logger"], line["token"]) == ("api", "peak_trade.early", REDACTED)


def test_capture_logs_sees_loggers_made_before_it() -> None:
    log = get_logger("peak_trade.early")
    with structlog.testing.capture_logs() as logs:
        log.info("captured", n=1)
        log.debug("also captured")
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("captured", "info"),
        ("also captured", "debug"),
    ]
    assert logs[0]["logger"] == "peak_trade.early"


def _run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: no logging state of this test session leaks in."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_issue_reproduction_in_a_fresh_process() -> None:
    out = _run_python(
        """
        import io, sys
        from peak_trade import node  # a module with `_log = get_logger(...)` at import
        from peak_trade.logging import configure_logging

        buf = io.StringIO()
        configure_logging("WARNING", fmt="json", stream=buf)
        node._log.info("x")
        node._log.warning("w", password="pw", url="redis://:Hunter2@db/0")
        sys.stderr.write("BUF:" + buf.getvalue())
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    buf = out.stderr.split("BUF:", 1)[1]
    [line] = _json_lines(buf)
    assert line["event"] == "w"
    assert line["level"] == "warning"
    assert line["logger"] == "peak_trade.node"
    assert line["password"] == REDACTED
    assert line["url"] == "redis://:***@db/0"


def test_unconfigured_library_logs_go_to_stderr_from_warning_up_only() -> None:
    out = _run_python(
        """
        from peak_trade.logging import get_logger

        log = get_logger("peak_trade.demo")
        log.debug("a debug line")
        log.info("an info line")
        log.warning("careful now", url="redis://:Hunter2@db/0", api_key="AKIA")
        try:
            raise ConnectionError("cannot reach redis://:Hunter2@db/0")
        except ConnectionError:
            log.exception("store failed")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert "careful now" in out.stderr
    assert "store failed" in out.stderr
    assert "ConnectionError" in out.stderr  # the traceback is there, redacted
    assert "redis://:***@db/0" in out.stderr
    assert "Hunter2" not in out.stderr
    assert "AKIA" not in out.stderr
    assert "debug line" not in out.stderr
    assert "info line" not in out.stderr


def test_unconfigured_library_follows_the_applications_stdlib_logging() -> None:
    out = _run_python(
        """
        import logging, sys
        from peak_trade.logging import get_logger

        log = get_logger("peak_trade.demo")  # made before the app configures logging
        logging.basicConfig(
            level=logging.INFO, stream=sys.stdout, format="%(name)s|%(levelname)s|%(message)s"
        )
        logging.getLogger("peak_trade").setLevel(logging.INFO)
        log.debug("a debug line")
        log.info("an info line", password="pw", n=3)
        """
    )
    assert out.returncode == 0, out.stderr
    [line] = out.stdout.splitlines()
    name, level, message = line.split("|")
    assert (name, level) == ("peak_trade.demo", "INFO")
    assert message.startswith("an info line")
    assert "n=3" in message
    assert "password='***'" in message


def test_repro_context_outside_git_prints_nothing(tmp_path: Path) -> None:
    out = _run_python(
        """
        from peak_trade.repro import ReproContext

        ReproContext.create(seed=1)
        """,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr == ""


def test_an_applications_own_structlog_pipeline_never_sees_our_secrets() -> None:
    stream = io.StringIO()
    structlog.configure(  # the application's pipeline, without our redaction
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
    )
    log = get_logger("peak_trade.store")
    log.info("opened", password="pw", url="redis://:Hunter2@db/0")
    try:
        raise ConnectionError("cannot reach redis://:Hunter2@db/0")
    except ConnectionError:
        log.exception("store failed")
    first, second = _json_lines(stream.getvalue())
    assert (first["password"], first["url"]) == (REDACTED, "redis://:***@db/0")
    assert first["logger"] == "peak_trade.store"
    assert "ConnectionError" in str(second["exception"])
    assert "Hunter2" not in stream.getvalue()


def test_log_with_a_numeric_level() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = get_logger("peak_trade.test")
    log.log(logging.WARNING, "w")
    log.log(5, "below debug")
    log.log(logging.ERROR + 5, "between error and critical")
    assert [(e["event"], e["level"]) for e in _json_lines(stream.getvalue())] == [
        ("w", "warning"),
        ("between error and critical", "error"),
    ]
