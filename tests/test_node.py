"""The node, driven directly: an async lifecycle of components started in order and stopped
in reverse; its log lines follow [monitoring], and never show a password."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
import redis
import structlog

from peak_trade.config import Settings, load_settings
from peak_trade.errors import InvalidArgumentError, StoreUnavailableError
from peak_trade.node import Component, ComponentHealth, ComponentInfo, ComponentState, Node
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


def start_stop(node: Node) -> None:
    """Start ``node`` and stop it again, on one event loop."""

    async def main() -> None:
        async with node:
            pass

    asyncio.run(main())


def test_node_started_is_logged_as_monitoring_says(capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://"))
    start_stop(node)
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
    start_stop(node)
    assert json_lines(capsys.readouterr().err) == []


def test_keys_not_used_yet_are_warned_about_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_WEB__PORT="9000"))
    start_stop(node)
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

    async def main() -> list[str]:
        async with node:
            return node.describe()

    lines = asyncio.run(main())
    err = capsys.readouterr().err
    [started] = [e for e in json_lines(err) if e["event"] == "node started"]
    assert str(started["store"]).startswith("redis://nodeuser:***@")
    assert PASSWORD not in err
    assert PASSWORD not in "\n".join(lines)
    assert PASSWORD not in repr(node.settings)


def test_node_passes_the_store_options_of_the_config() -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_STORE__NAMESPACE="bot1"))

    async def main() -> None:
        async with node:
            assert node.store is not None
            assert node.store.namespace == "bot1"
        assert node.store is None  # closed with the node

    asyncio.run(main())


def test_wrong_password_fails_without_showing_it(redis_server: RedisServer) -> None:
    url = f"redis://nobody:{PASSWORD}@{redis_server.host}:{redis_server.port}/0"
    node = Node(settings(PEAK_TRADE_STORE__URL=url, PEAK_TRADE_STORE__EVICTION_POLICY_CHECK="off"))
    with pytest.raises(StoreUnavailableError) as info:
        asyncio.run(node.start())
    assert PASSWORD not in str(info.value)
    assert isinstance(info.value.__cause__, redis.RedisError)


def test_components_say_what_runs_and_what_does_not_yet() -> None:
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://", PEAK_TRADE_WEB__PORT="9000"))
    before = {c.name: c for c in node.components()}
    # nothing runs before start, and the report says so
    assert before["store"] == ComponentInfo("store", ComponentState.STOPPED, "memory://")
    assert before["logging"].state is ComponentState.STOPPED

    async def main() -> dict[str, ComponentInfo]:
        async with node:
            return {c.name: c for c in node.components()}

    states = asyncio.run(main())
    assert states["store"] == ComponentInfo("store", ComponentState.RUNNING, "memory://")
    assert states["logging"].state is ComponentState.RUNNING
    assert states["web"].state is ComponentState.NOT_YET
    assert "nothing listens on 127.0.0.1:9000 yet" in states["web"].detail
    for planned in ("exchange", "health checks", "backups", "job safety"):
        assert states[planned].state is ComponentState.NOT_YET
        assert "step" in states[planned].detail
    assert {c.state for c in node.components() if c.name in ("store", "logging")} == {
        ComponentState.STOPPED
    }
    lines = node.describe()
    assert lines[0].startswith("configuration: <built-in defaults>")
    assert any(line.split()[:2] == ["stopped", "store"] for line in lines)


# ----------------------------------------------------------------------------- lifecycle


class Toy:
    """A component that records its lifecycle into a shared journal."""

    def __init__(self, name: str, journal: list[str], *, fail_start: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.fail_start = fail_start
        self.running = False

    async def start(self) -> None:
        await asyncio.sleep(0)  # a real await: the loop runs while components start
        if self.fail_start:
            self.journal.append(f"start {self.name} failed")
            raise StoreUnavailableError(
                f"{self.name} cannot connect", hint="Start it first.", context={}
            )
        self.running = True
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.running = False
        self.journal.append(f"stop {self.name}")

    def health(self) -> ComponentHealth:
        return ComponentHealth(self.running, "toy")

    def describe(self) -> str:
        return f"toy {self.name}"


def test_a_toy_component_is_a_component() -> None:
    assert isinstance(Toy("a", []), Component)


def test_components_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://"))
    a, b = Toy("a", journal), Toy("b", journal)
    node.add(a)
    node.add(b)

    async def main() -> None:
        async with node:
            assert journal == ["start a", "start b"]
            assert node.store is not None  # the built-in ones started first
            assert node.health()["a"] == ComponentHealth(True, "toy")
            assert node.health()["store"].healthy
        assert journal == ["start a", "start b", "stop b", "stop a"]

    asyncio.run(main())
    assert node.health()["a"] == ComponentHealth(False, "stopped")
    assert [c.state for c in node.components() if c.name in ("a", "b")] == [
        ComponentState.STOPPED,
        ComponentState.STOPPED,
    ]


def test_a_failed_start_stops_what_started_in_reverse_and_raises() -> None:
    journal: list[str] = []
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://"))
    for toy in (Toy("a", journal), Toy("b", journal), Toy("c", journal, fail_start=True)):
        node.add(toy)
    node.add(Toy("d", journal))
    with pytest.raises(StoreUnavailableError, match="c cannot connect"):
        asyncio.run(node.start())
    # d never started; b and a were stopped, newest first; so was the store
    assert journal == ["start a", "start b", "start c failed", "stop b", "stop a"]
    states = {c.name: c.state for c in node.components()}
    assert states["c"] is ComponentState.FAILED
    assert states["d"] is ComponentState.STOPPED
    assert states["store"] is ComponentState.STOPPED
    assert node.store is None
    asyncio.run(node.stop())  # nothing left to stop: a no-op


def test_a_store_that_cannot_connect_fails_the_start_and_stops_the_rest() -> None:
    journal: list[str] = []
    node = Node(
        settings(
            PEAK_TRADE_STORE__URL="redis://127.0.0.1:1/0",
            PEAK_TRADE_STORE__EVICTION_POLICY_CHECK="off",
        )
    )
    node.add(Toy("after", journal))
    with pytest.raises(StoreUnavailableError):
        asyncio.run(node.start())
    assert journal == []  # nothing after the store started
    states = {c.name: c.state for c in node.components()}
    assert states["store"] is ComponentState.FAILED
    assert states["logging"] is ComponentState.STOPPED
    assert node.store is None


def test_start_and_stop_are_idempotent_and_components_are_added_before_start() -> None:
    journal: list[str] = []
    node = Node(settings(PEAK_TRADE_STORE__URL="memory://"))
    node.add(Toy("a", journal))

    async def main() -> None:
        await node.start()
        await node.start()
        with pytest.raises(InvalidArgumentError, match="before"):
            node.add(Toy("late", journal))
        with pytest.raises(InvalidArgumentError, match="already"):
            Node(settings(PEAK_TRADE_STORE__URL="memory://")).add(Toy("store", journal))
        await node.stop()
        await node.stop()

    asyncio.run(main())
    assert journal == ["start a", "stop a"]
