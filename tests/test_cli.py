"""The CLI, run as real processes (the installed `peaktrade` script and `python -m`)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import peak_trade
from peak_trade.config import load_settings
from peak_trade.node import ComponentHealth, Node
from peaktrade_cli import BIN, clean_env, run_peaktrade


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_peaktrade(args, cwd, **env)


def test_version_and_help(tmp_path: Path) -> None:
    out = run(["--version"], tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == f"peaktrade {peak_trade.__version__}"
    helped = run(["--help"], tmp_path)
    assert helped.returncode == 0
    for command in ("config", "run"):
        assert command in helped.stdout
    module = subprocess.run(
        [sys.executable, "-m", "peak_trade", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert module.stdout == out.stdout


def test_config_show_applies_the_seed_env_override(tmp_path: Path) -> None:
    out = run(["config", "show"], tmp_path, PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="10")
    assert out.returncode == 0, out.stderr
    assert "circuit_breaker_threshold = 10\n" in out.stdout
    assert "PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD" in out.stdout  # says where the value came from


def test_config_show_masks_secrets_and_speaks_json(tmp_path: Path) -> None:
    out = run(
        ["config", "show", "--json"],
        tmp_path,
        PEAK_TRADE_EXCHANGE__API_SECRET="very-secret-value",
        PEAK_TRADE_STORE__URL="redis://:hunter2@db:6379/0",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["exchange"]["api_secret"] == "***"
    assert data["store"]["url"] == "redis://:***@db:6379/0"
    assert "very-secret-value" not in out.stdout
    assert "hunter2" not in out.stdout


def test_config_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[resilience]\ncircuit_breaker_threshold = 3\n")
    ok = run(["config", "validate", str(good)], tmp_path)
    assert ok.returncode == 0
    assert "valid" in ok.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("[resilience]\ncircuit_breaker_treshold = 3\n[web]\nport = -1\n")
    failed = run(["config", "validate", str(bad)], tmp_path)
    assert failed.returncode == 2
    assert "resilience.circuit_breaker_treshold: unknown key" in failed.stderr
    assert "web.port = -1" in failed.stderr
    assert str(bad) in failed.stderr
    assert "Hint:" in failed.stderr

    missing = run(["config", "validate", str(tmp_path / "nope.toml")], tmp_path)
    assert missing.returncode == 2
    assert "not found" in missing.stderr


def test_config_show_uses_the_default_file_location(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "peaktrade.toml").write_text("[web]\nport = 9999\n")
    out = run(["config", "show"], tmp_path)
    assert "port = 9999" in out.stdout
    assert "config/peaktrade.toml" in out.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_run_opens_the_store_and_stops_cleanly_on_signal(tmp_path: Path, sig: int) -> None:
    proc = subprocess.Popen(
        [str(BIN), "run"],
        cwd=tmp_path,
        env=clean_env(PEAK_TRADE_MONITORING__LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:  # blocks until the node reports readiness (or exits)
        seen.append(line)
        if "peaktrade is running" in line:
            break
    proc.send_signal(sig)
    rest, err = proc.communicate(timeout=30)
    output = "".join(seen) + rest
    assert proc.returncode == 0, err
    assert re.search(r"^running +store +sqlite:///var/state\.db$", output, re.M)
    # it says what does not run yet instead of printing a port nobody listens on
    assert re.search(r"^not yet +web +nothing listens on 127\.0\.0\.1:8787 yet", output, re.M)
    assert "peaktrade stopped cleanly." in output
    assert (tmp_path / "var" / "state.db").exists()  # the embedded default store was created


def test_run_with_an_unreachable_store_fails_with_a_hint(tmp_path: Path) -> None:
    out = run(["run"], tmp_path, PEAK_TRADE_STORE__URL="redis://127.0.0.1:1/0")
    assert out.returncode == 1
    assert "error:" in out.stderr
    assert "127.0.0.1:1" in out.stderr
    assert "Hint:" in out.stderr
    # nothing claims to run, and there was nothing to stop cleanly
    assert "peaktrade is running" not in out.stdout
    assert "stopped cleanly" not in out.stdout


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The node configures logging in this process: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers, root.level = handlers, level


class Echo:
    """A component with a task of its own: it answers while the node waits for a signal."""

    name = "echo"

    def __init__(self) -> None:
        self.journal: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue()

    async def _serve(self) -> None:
        while True:
            reply = await self._inbox.get()
            reply.set_result("pong")

    async def ask(self) -> str:
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._inbox.put(reply)
        return await reply

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve())
        self.journal.append("start")

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        self.journal.append("stop")

    def health(self) -> ComponentHealth:
        return ComponentHealth(self._task is not None and not self._task.done(), "echo")

    def describe(self) -> str:
        return "answers ping"


@pytest.mark.usefixtures("restore_logging")
def test_run_serves_its_components_on_an_event_loop_until_a_signal() -> None:
    from peak_trade.cli._run import serve

    node = Node(
        load_settings(
            environ={
                "PEAK_TRADE_STORE__URL": "memory://",
                "PEAK_TRADE_MONITORING__LOG_LEVEL": "ERROR",
            },
            use_default_file=False,
        )
    )
    echo = Echo()
    node.add(echo)
    lines: list[str] = []
    previous = signal.getsignal(signal.SIGINT)

    async def main() -> None:
        running = asyncio.Event()

        def say(line: str) -> None:
            lines.append(line)
            if "peaktrade is running" in line:
                running.set()

        served = asyncio.create_task(serve(node, say))
        await running.wait()
        assert await echo.ask() == "pong"  # the loop serves components while it waits
        assert node.health()["echo"].healthy
        signal.raise_signal(signal.SIGINT)  # handled by the loop: no KeyboardInterrupt
        await served

    asyncio.run(main())
    assert echo.journal == ["start", "stop"]
    assert re.search(r"^running +echo +answers ping$", "\n".join(lines), re.M)
    assert lines[-1] == "peaktrade stopped cleanly."
    assert signal.getsignal(signal.SIGINT) is previous  # the process's own handler is back


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["data", "validate", "--json", "--bogus", "x.csv"], "--bogus"),
        (["data", "validate", "--json"], "Missing argument"),
        (["data", "verify", "--json", "a", "b"], "unexpected extra argument"),
        (["config", "show", "--json", "--config"], "requires an argument"),
    ],
)
def test_json_is_printed_even_for_a_command_line_click_refuses(
    tmp_path: Path, args: list[str], problem: str
) -> None:
    out = run(args, tmp_path)
    assert out.returncode == 2
    doc = json.loads(out.stdout)
    assert doc["ok"] is False
    assert problem.lower() in doc["error"]["message"].lower()
    assert "--help" in doc["error"]["hint"]


def test_without_json_click_refusals_stay_plain_usage_errors(tmp_path: Path) -> None:
    out = run(["data", "validate", "--bogus", "x.csv"], tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert "No such option" in out.stderr


def test_json_keeps_each_commands_exit_code(tmp_path: Path) -> None:
    assert run(["config", "show", "--json"], tmp_path).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[web]\nport = -1\n")
    refused = run(["config", "validate", str(bad)], tmp_path)
    assert refused.returncode == 2
    missing = run(["data", "verify", "--json", str(tmp_path / "nope")], tmp_path)
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["ok"] is False
