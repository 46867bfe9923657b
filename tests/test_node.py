"""The node, driven directly: its log lines follow [monitoring], and never show a password."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis
import structlog

from peak_trade.config import Settings, load_settings
from peak_trade.node import Component, ComponentState, Node
from redis_fixture import RedisServer

PASSWORD = "n0de-Sekr1t"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


def settings(**env: str) -> Settings:
    return load_settings(
        environ={"PEAK_TRADE_MONITORING__LOG_FORMAT": "json", **env}, use_default_file=False
    )


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_node_started_is_logged_as_monitoring_says(capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://"))
    node.start()
    node.stop()
    out, err = capsys.readouterr()
    assert out == ""  # logs go to stderr, stdout is the commands' output
    events = {e["event"]: e for e in json_lines(err)}
    assert events["node started"]["store"] == "memory://"
    assert events["node started"]["logger"] == "peak_trade.node"
    assert "node stopped" in events


def test_monitoring_level_applies(capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(
        settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_MONITORING__LOG_LEVEL="WARNING")
    )
    node.start()
    node.stop()
    assert json_lines(capsys.readouterr().err) == []


def test_keys_not_used_yet_are_warned_about_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_WEB__PORT="9000"))
    node.start()
    node.stop()
    [warning] = [e for e in json_lines(capsys.readouterr().err) if e["level"] == "warning"]
    assert warning["key"] == "web.port"
    assert warning["value"] == 9000
    assert "step" in str(warning["planned"])


@pytest.fixture
def password_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of an ACL user with a password (CONFIG denied, so the check is off)."""
    admin = redis_server.client()
    admin.execute_command("ACL", "SETUSER", "nodeuser", "on", f">{PASSWORD}", "~*", "+@all")
    try:
        yield f"redis://nodeuser:{PASSWORD}@{redis_server.host}:{redis_server.port}/0"
    finally:
        admin.execute_command("ACL", "DELUSER", "nodeuser")
        admin.close()


@pytest.mark.redis
def test_a_redis_password_never_reaches_the_log_or_describe(
    password_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL=password_url))
    node.start()
    lines = node.describe()
    node.stop()
    err = capsys.readouterr().err
    [started] = [e for e in json_lines(err) if e["event"] == "node started"]
    assert str(started["store"]).startswith("redis://nodeuser:***@")
    assert PASSWORD not in err
    assert PASSWORD not in "\n".join(lines)
    assert PASSWORD not in repr(node.settings)


def test_node_passes_the_store_options_of_the_config() -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_STORE__NAMESPACE="bot1"))
    node.start()
    try:
        assert node.store is not None
        assert node.store.namespace == "bot1"
    finally:
        node.stop()


def test_wrong_password_fails_without_showing_it(redis_server: RedisServer) -> None:
    from peak_trade.errors import StoreUnavailableError

    url = f"redis://nobody:{PASSWORD}@{redis_server.host}:{redis_server.port}/0"
    node = Node(settings(PEAK_TRADE_STORE__URL=url, PEAK_TRADE_STORE__EVICTION_POLICY_CHECK="off"))
    with pytest.raises(StoreUnavailableError) as info:
        node.start()
    assert PASSWORD not in str(info.value)
    assert isinstance(info.value.__cause__, redis.RedisError)


def test_components_say_what_runs_and_what_does_not_yet() -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_WEB__PORT="9000"))
    assert node.components()[0] == Component("store", ComponentState.RUNNING, "<not open>")
    node.start()
    try:
        states = {c.name: c for c in node.components()}
    finally:
        node.stop()
    assert states["store"] == Component("store", ComponentState.RUNNING, "memory://")
    assert states["logging"].state is ComponentState.RUNNING
    assert states["web"].state is ComponentState.NOT_YET
    assert "nothing listens on 127.0.0.1:9000 yet" in states["web"].detail
    for planned in ("exchange", "health checks", "backups", "job safety"):
        assert states[planned].state is ComponentState.NOT_YET
        assert "step" in states[planned].detail
    lines = node.describe()
    assert lines[0].startswith("configuration: <built-in defaults>")
    assert any(line.split()[:2] == ["running", "store"] for line in lines)
