"""A redis-server of a test's own, to kill and restart (outage tests)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from redis_fixture import _admin, _free_port, _stop

__all__ = ["KillableRedis"]

_START_TIMEOUT = 15.0


@dataclass
class KillableRedis:
    """A private redis-server that a test may stop and start again on the same port.

    The session's shared server (``redis_server``) must never go down under
    other tests; outage tests take this one instead.
    """

    executable: str
    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port, and wait until it answers PING."""
        assert self.process is None or self.process.poll() is not None, "already running"
        args = [
            self.executable,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
            "--dir", str(self.workdir),
            "--logfile", str(self.workdir / "redis.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        client = _admin(self.host, self.port)
        deadline = time.monotonic() + _START_TIMEOUT
        try:
            while True:
                if self.process.poll() is not None:
                    log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server exited ({self.process.returncode}):\n{log}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer PING")
                time.sleep(0.02)  # bounded readiness polling, not a wait for a timeout
        finally:
            client.close()

    def stop(self) -> None:
        """Shut the server down (the port refuses connections until :meth:`start`)."""
        if self.process is not None:
            _stop(self.process, self.host, self.port)
